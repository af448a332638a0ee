#!/usr/bin/env bash
# Installs the Debian packages that building the ISO, running QEMU and
# checking the Promela models need, only when something is missing; with
# "bench", also gnuplot for the plots of make bench.
set -euo pipefail
missing=()
if [ "${1:-}" = bench ]; then
  command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
fi
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[ -d /usr/lib/grub/i386-pc ] || missing+=(grub-pc-bin)
command -v xorriso >/dev/null || missing+=(xorriso)
command -v mformat >/dev/null || missing+=(mtools)
# spin and a C compiler check the Promela models (Tools/models.sh).
command -v spin >/dev/null || missing+=(spin)
command -v gcc >/dev/null || command -v cc >/dev/null || missing+=(gcc)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
