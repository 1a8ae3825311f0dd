#!/usr/bin/env bash
# The runtime's tests on the other Pythons: 3.12 and 3.13 from this machine, 3.14 and 3.15 from Debian sid.
# Runs: unit, end-to-end, RIE and web-bridge tests (the image tests build their own Python from the base image's
# packages; tests/deploy checks the templates, whatever the Python).
#
# 3.12 and 3.13: each in its own virtual environment under .cache/. An interpreter that is not on this machine is
# reported and skipped: CPython itself is not in the package registries this project can reach, so it cannot be
# installed from here (README "Compatibility").
#
# 3.14 and 3.15: Debian sid's python3.14 and python3.15, whose binaries need sid's glibc, run in a sid root built and
# cached by scripts/sid-root.sh (.cache/sid-root), by chroot, with the repository at its own path. Each has its venv
# inside the root (/venvs/VERSION), rebuilt when pyproject.toml changes. Skipped, with the reason, when not run as
# root (chroot) or when the Debian archive cannot be reached to build the root; any other failure fails.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITES=(tests/unit tests/e2e tests/rie tests/web)
SID_ROOT=".cache/sid-root/root"
# Left out of a Python's dev set (pyproject.toml's, read at run time), with the reason. cfn-lint on 3.15: its releases
# 1.50.1 to 1.58.0 declare Requires-Python <3.15, and the older ones pip falls back to pull a pydantic-core with no
# 3.15 wheel. Only tests/deploy uses it, which is not run here. Drop the entry once a release supports 3.15.
declare -A LEAVE_OUT=([3.15]="cfn-lint")

log() { printf 'other-pythons: %s\n' "$*" >&2; }

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
  if ! RIE_BINARY="$PWD/.cache/rie/aws-lambda-rie" "$venv/bin/pytest" -q -p no:cacheprovider "${SUITES[@]}"; then
    status=1
  fi
done

# The dev set as pip arguments: '.[dev]', or, with packages left out, '.' and the rest of pyproject's dev list.
dev_set() {
  local version="$1"
  if [ -z "${LEAVE_OUT[$version]:-}" ]; then
    printf '%s\n' '.[dev]'
    return
  fi
  printf '%s\n' .
  # shellcheck disable=SC2086  # one argument per name
  python3 - ${LEAVE_OUT[$version]} <<'PY'
import re, sys, tomllib

leave_out = {name.lower().replace("_", "-") for name in sys.argv[1:]}
with open("pyproject.toml", "rb") as file:
    dev = tomllib.load(file)["project"]["optional-dependencies"]["dev"]
for requirement in dev:
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    if name is None or name.group().lower().replace("_", "-") not in leave_out:
        print(requirement)
PY
}

sid_pythons() {
  if [ "$(id -u)" -ne 0 ]; then
    log "python3.14 and python3.15 are skipped: they run in a Debian sid root by chroot, which needs root (CI runs as root)"
    return 0
  fi
  local started=$SECONDS rc=0
  bash scripts/sid-root.sh build || rc=$?
  if [ "$rc" -eq 3 ]; then
    log "python3.14 and python3.15 are skipped: the Debian archive cannot be reached, so their sid root cannot be built"
    return 0
  elif [ "$rc" -ne 0 ]; then
    log "building the Debian sid root failed (exit $rc): python3.14 and python3.15 not tested"
    return 1
  fi
  local version venv failed=0
  local -a packages
  for version in 3.14 3.15; do
    venv="/venvs/$version"
    if [ ! -f "$SID_ROOT$venv/.installed" ] || [ pyproject.toml -nt "$SID_ROOT$venv/.installed" ]; then
      started=$SECONDS
      rm -rf --one-file-system "${SID_ROOT:?}$venv"
      mapfile -t packages < <(dev_set "$version")
      [ -z "${LEAVE_OUT[$version]:-}" ] || log "python$version: the dev set without ${LEAVE_OUT[$version]}"
      # pip 26 (sid's) warns of every package the host's file:// indexes do not hold: those lines are left out.
      if ! bash scripts/sid-root.sh run "python$version" -m venv "$venv" ||
        ! bash scripts/sid-root.sh run "$venv/bin/pip" install --quiet --disable-pip-version-check \
          -e "${packages[@]}" 2> >(grep -v "^WARNING: Location 'file:.*' is ignored: it is neither a file nor" >&2); then
        log "python$version: setting up its venv failed"
        failed=1
        continue
      fi
      touch "$SID_ROOT$venv/.installed"
      log "python$version: venv set up in $((SECONDS - started)) s"
    fi
    log "$(bash scripts/sid-root.sh run "$venv/bin/python" --version) (Debian sid's, in $SID_ROOT)"
    started=$SECONDS
    RIE_BINARY="$PWD/.cache/rie/aws-lambda-rie" bash scripts/sid-root.sh run \
      "$venv/bin/pytest" -q -p no:cacheprovider "${SUITES[@]}" || failed=1
    log "python$version: tests ran in $((SECONDS - started)) s"
  done
  return "$failed"
}

sid_pythons || status=1
exit "$status"
