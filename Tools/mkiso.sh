#!/usr/bin/env bash
# Build a bootable GRUB ISO: mkiso.sh OUT.iso KERNEL.elf "CMDLINE" [MODULE...]
# The command line is baked into grub.cfg, so each distinct command line is its
# own (small, ~0.2 s to make) ISO. Modules are passed to the kernel as
# Multiboot2 modules whose string is the file's base name without .elf.
set -euo pipefail
out=$1 kernel=$2 cmdline=${3:-}
shift 3 || shift $#
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/boot/grub" "$tree/modules"
cp "$kernel" "$tree/boot/tessera.elf"
{
  echo 'set timeout=0'
  echo 'set default=0'
  echo 'menuentry "Tessera" {'
  # GRUB quotes any argument that contains a space, so pass the command line
  # word by word, each character GRUB's script syntax treats specially escaped.
  escaped=$(printf '%s' "$cmdline" | sed -E 's/([^A-Za-z0-9=,._/:+ -])/\\\1/g')
  echo "  multiboot2 /boot/tessera.elf $escaped"
  for m in "$@"; do
    name=$(basename "$m")
    cp "$m" "$tree/modules/$name"
    echo "  module2 /modules/$name ${name%.elf}"
  done
  echo '  boot'
  echo '}'
} >"$tree/boot/grub/grub.cfg"
grub-mkrescue -o "$out" "$tree" >/dev/null 2>&1 || {
  echo "mkiso: grub-mkrescue failed (is grub-pc-bin, xorriso and mtools installed?)" >&2
  grub-mkrescue -o "$out" "$tree" >&2
  exit 1
}
