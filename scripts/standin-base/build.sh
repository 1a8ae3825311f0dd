#!/usr/bin/env bash
# Builds a local, test-only stand-in for the Lambda base image public.ecr.aws/lambda/provided:al2023,
# which cannot be pulled on machines without access to that registry (CI here). It honours the
# contract the root Dockerfile relies on (see Containerfile beside this file) but is Debian, made
# with debootstrap --variant=minbase from the machine's own apt mirror and suite.
#
# Prints the image reference on stdout (last line); progress goes to stderr.
# Cached: the debootstrap root is kept as .cache/standin-base/rootfs-SUITE.tar, and the image is
# rebuilt only when one of its inputs changed (a hash of them is stored as the image label
# lambda-runtime.standin.inputs). STANDIN_REBUILD=1 forces a rebuild of the image (not of the rootfs).
#
# Needs root, buildah and debootstrap: bash scripts/image-tools.sh installs them.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."

IMAGE="${STANDIN_IMAGE:-localhost/lambda-standin-base:latest}"
CACHE=".cache/standin-base"
PYTHON="${PYTHON:-python3}"

log() { printf 'standin-base: %s\n' "$*" >&2; }

command -v buildah >/dev/null 2>&1 || { log "buildah not installed: run scripts/image-tools.sh"; exit 1; }
[ "$(id -u)" -eq 0 ] || { log "must run as root (debootstrap, buildah --isolation chroot)"; exit 1; }

rie="$(bash scripts/image-tools.sh rie)"

# The mirror and suite come from the machine's apt sources at run time (never written in a file):
# the first 'deb' entry of the distribution's main suite (scripts/apt_sources.py).
read -r mirror suite < <("$PYTHON" scripts/apt_sources.py)
[ -n "${suite:-}" ] || { log "could not read a mirror and suite from the apt sources"; exit 1; }

rootfs_tar="$CACHE/rootfs-$suite.tar"
local_ca_dir="/usr/local/share/ca-certificates"

# Everything that goes into the image; a change to any of them rebuilds it.
inputs_hash="$(
  {
    printf '%s\n' "$suite" "$IMAGE"
    cat "$here/Containerfile" "$here/lambda-entrypoint.sh" "$here/dnf" "$here/build.sh"
    sha256sum "$rie" | cut -d' ' -f1
    find "$local_ca_dir" -name '*.crt' -type f -exec cat {} + 2>/dev/null || true
  } | sha256sum | cut -d' ' -f1
)"

if [ "${STANDIN_REBUILD:-0}" != 1 ] &&
  [ "$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "lambda-runtime.standin.inputs"}}' "$IMAGE" 2>/dev/null || true)" = "$inputs_hash" ]; then
  log "image $IMAGE is up to date"
  printf '%s\n' "$IMAGE"
  exit 0
fi

if [ ! -f "$rootfs_tar" ]; then
  command -v debootstrap >/dev/null 2>&1 || { log "debootstrap not installed: run scripts/image-tools.sh"; exit 1; }
  rootfs_dir="$CACHE/rootfs-$suite.tmp"
  rm -rf "$rootfs_dir"
  mkdir -p "$CACHE"
  log "debootstrap --variant=minbase $suite (mirror from the apt sources); takes a few minutes"
  # ca-certificates: pip inside image builds talks HTTPS (the real base image has it too).
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs_dir" "$mirror" >&2
  # Smaller and deterministic: no downloaded .debs, no package lists, no docs, no device nodes
  # (buildah provides /dev at run time).
  rm -rf "$rootfs_dir"/var/cache/apt/archives/*.deb "$rootfs_dir"/var/lib/apt/lists/* \
    "$rootfs_dir"/usr/share/doc/* "$rootfs_dir"/usr/share/man/* "$rootfs_dir"/usr/share/locale/* \
    "$rootfs_dir"/var/log/*.log "$rootfs_dir"/var/cache/debconf/*-old
  tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -C "$rootfs_dir" -cf "$rootfs_tar.part" .
  mv "$rootfs_tar.part" "$rootfs_tar"
  rm -rf "$rootfs_dir"
fi

# The build context: a scratch folder under .cache, so the repo's .dockerignore does not apply.
ctx="$CACHE/context"
rm -rf "$ctx"
mkdir -p "$ctx/local-ca"
ln "$rootfs_tar" "$ctx/rootfs.tar" 2>/dev/null || cp "$rootfs_tar" "$ctx/rootfs.tar"
cp "$rie" "$ctx/aws-lambda-rie"
cp "$here/lambda-entrypoint.sh" "$here/dnf" "$ctx/"
# The machine's local CAs (e.g. of a TLS-inspecting egress proxy), so that pip inside image builds
# trusts what the host trusts. Nothing is copied on a machine without any.
find "$local_ca_dir" -name '*.crt' -type f -exec cp {} "$ctx/local-ca/" \; 2>/dev/null || true

previous="$(buildah images --quiet --no-trunc "$IMAGE" 2>/dev/null | head -n 1 || true)"
log "building $IMAGE"
buildah bud --isolation chroot --network host --quiet \
  --label "lambda-runtime.standin.inputs=$inputs_hash" \
  -t "$IMAGE" -f "$here/Containerfile" "$ctx" >&2
rm -rf "$ctx"
# The replaced image, unless images built on it still use it (then rmi refuses, which is fine).
if [ -n "$previous" ] && [ "$previous" != "$(buildah images --quiet --no-trunc "$IMAGE" | head -n 1)" ]; then
  buildah rmi "$previous" >/dev/null 2>&1 || true
fi
printf '%s\n' "$IMAGE"
