#!/usr/bin/env bash
# Usage: scripts/find-python.sh VERSION. Prints the path of a working pythonVERSION (on PATH, else a pyenv
# installation of it; pyenv's shim on PATH fails for a version not selected), or nothing and exit 1.
set -euo pipefail
version="$1"
candidates="$(command -v "python$version" || true)"
if command -v pyenv >/dev/null 2>&1; then
  installed="$(pyenv versions --bare | grep -E "^$version(\.[0-9]+)?$" | sort -V | tail -n 1 || true)"
  if [ -n "$installed" ]; then
    candidates="$candidates $(pyenv root)/versions/$installed/bin/python$version"
  fi
fi
for candidate in $candidates; do
  if "$candidate" -c 'pass' >/dev/null 2>&1; then
    echo "$candidate"
    exit 0
  fi
done
exit 1
