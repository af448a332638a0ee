#!/usr/bin/env bash
# The long boot fuzz runs (`make fuzz`): builds the kernel, the user
# programs and the scenario runner, then runs every scenario in
# Tests/Fuzz/Scenarios (1 000 000 system calls from badcalls fuzzers on
# service and LWK CPUs, 1 MiB of random shell input). They live outside
# Tests/Scenarios because they take minutes; `make test` runs the short
# versions. Extra arguments go to the runner (e.g. --verbose, --filter).
# Exits non-zero when anything failed. Transcripts: build/scenarios/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/opt/swift/usr/bin:$PATH
make kernel user
swift build --product tessera-scenario
exec .build/debug/tessera-scenario run --jobs 1 --kernel build/tessera.elf "$@" Tests/Fuzz/Scenarios
