#!/usr/bin/env bash
# Usage: scripts/find-python.sh VERSION. Prints the path of a working pythonVERSION (on PATH, else a pyenv
# installation of it; pyenv's shim on PATH fails for a version not selected; else the Debian sid root's), or
# nothing and exit 1.
set -euo pipefail
version="$1"
candidates="$(command -v "python$version" || true)"
if command -v pyenv >/dev/null 2>&1; then
  installed="$(pyenv versions --bare | grep -E "^$version(\.[0-9]+)?$" | sort -V | tail -n 1 || true)"
  if [ -n "$installed" ]; then
    candidates="$candidates $(pyenv root)/versions/$installed/bin/python$version"
  fi
fi
# Debian sid's python3.14 and python3.15 (scripts/sid-root.sh) need sid's glibc: run on this machine through sid's
# own dynamic loader and libraries (no chroot, no root), which serves what runs in one process (the layer's
# compileall).
sid_root="$(cd "$(dirname "$0")/.." && pwd)/.cache/sid-root/root"
if [ -x "$sid_root/usr/bin/python$version" ]; then
  wrapper="${sid_root%/root}/host-bin/python$version"
  mkdir -p "${wrapper%/*}"
  cat >"$wrapper" <<WRAPPER
#!/bin/sh
# python$version of the Debian sid root, run on this machine through sid's loader (scripts/find-python.sh).
PYTHONHOME="$sid_root/usr" exec "$sid_root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \\
  --library-path "$sid_root/usr/lib/x86_64-linux-gnu" "$sid_root/usr/bin/python$version" "\$@"
WRAPPER
  chmod +x "$wrapper"
  candidates="$candidates $wrapper"
fi
for candidate in $candidates; do
  if "$candidate" -c 'pass' >/dev/null 2>&1; then
    echo "$candidate"
    exit 0
  fi
done
exit 1
