#!/usr/bin/env bash
# Installs the Debian packages that building the ISO and running QEMU need,
# only when something is missing; with "bench", also gnuplot for the plots
# of make bench.
set -euo pipefail
missing=()
if [ "${1:-}" = bench ]; then
  command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
fi
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[ -d /usr/lib/grub/i386-pc ] || missing+=(grub-pc-bin)
command -v xorriso >/dev/null || missing+=(xorriso)
command -v mformat >/dev/null || missing+=(mtools)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
