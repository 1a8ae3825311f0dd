#!/usr/bin/env bash
# The runtime's tests on the other Pythons the image supports (3.12, 3.13), each in its own virtual environment
# under .cache/. An interpreter that is not on this machine is reported and skipped: CPython itself is not in the
# package registries this project can reach, so it cannot be installed from here (README "Compatibility").
# Runs: unit, end-to-end, RIE and web-bridge tests (the image tests build their own Python from the base image's
# packages).
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
for version in 3.12 3.13; do
  python="$(bash scripts/find-python.sh "$version" || true)"
  if [ -z "$python" ]; then
    echo "other-pythons: python$version is not installed here: its tests are skipped" >&2
    continue
  fi
  venv=".cache/venv-$version"
  if [ ! -f "$venv/.installed" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -e '.[dev]'
    touch "$venv/.installed"
  fi
  echo "other-pythons: $("$venv/bin/python" --version)" >&2
  if ! RIE_BINARY="$PWD/.cache/rie/aws-lambda-rie" "$venv/bin/pytest" -q -p no:cacheprovider tests/unit tests/e2e tests/rie tests/web; then
    status=1
  fi
done
exit "$status"
