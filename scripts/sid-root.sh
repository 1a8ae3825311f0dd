#!/usr/bin/env bash
# A Debian sid (unstable) root with Python 3.14 and 3.15, for scripts/other-pythons.sh: sid's python3.14 and
# python3.15 need sid's glibc (2.38 and later), newer than this machine's, so they run in this root, by chroot.
#
# Usage: bash scripts/sid-root.sh build      build the root at .cache/sid-root/root, or reuse it (printing nothing)
#        bash scripts/sid-root.sh run CMD..  run CMD inside the root, as root, in the repository's own path
#        bash scripts/sid-root.sh unmount    unmount whatever is mounted under .cache/sid-root (nothing should be)
#        bash scripts/sid-root.sh remove     unmount, then delete .cache/sid-root
# Exit status of build: 0 built or up to date; 3 the Debian archive cannot be reached (the reason on stderr: callers
# skip, not fail); anything else a failure.
#
# build: debootstrap --variant=minbase of sid from the machine's own Debian mirror (scripts/apt_sources.py reads it
# from the apt sources at run time), with the two Pythons, their venv modules (ensurepip) and ca-certificates. Cached:
# rebuilt only when the package list below changes. The mirror is a snapshot whose sid Release file can be past its
# Valid-Until date; debootstrap does not check that, and apt inside the root is told not to either.
#
# run: in a mount namespace of its own (unshare), the repository is bind-mounted at its own absolute path (so paths
# in the tests hold inside), with /proc, /dev, /sys, a fresh /tmp (tmpfs), the host's resolv.conf and the host's pip
# configuration (its files, and the local paths they and the PIP_* variables name: indexes, wheel folders,
# constraints, the CA bundle), so pip inside uses the same indexes as pip outside. The mounts exist only in that
# namespace: they are undone when it ends, however the command ends (failure, Ctrl-C, a kill), and the host never
# sees them, so deleting .cache cannot reach the host's /proc or the repository through the root.
#
# Needs root (debootstrap, chroot, mount), debootstrap (installed with apt-get when missing), unshare and findmnt
# (util-linux).
set -euo pipefail

cd -P "$(dirname "$0")/.."
repo="$PWD"
CACHE="$repo/.cache/sid-root"
ROOT="$CACHE/root"
PYTHON="${PYTHON:-python3}"
SUITE=sid
# What the tests need inside: the interpreters and ensurepip (the -venv packages), and CA certificates for pip.
# procps, git and the like are not needed: the suites call none of them.
PACKAGES="python3.14,python3.14-venv,python3.15,python3.15-venv,ca-certificates"
UNREACHABLE=3

log() { printf 'sid-root: %s\n' "$*" >&2; }

# Mount points under .cache/sid-root in this mount namespace, deepest first.
mounts_under() {
  findmnt -rn -o TARGET | while IFS= read -r target; do
    target="$(printf '%b' "$target")"  # findmnt -r escapes spaces and the like as \xNN
    case "$target" in "$CACHE"/*) printf '%s\n' "$target" ;; esac
  done | sort -r
}

# Unmounts them (lazily when busy: detached at once, so nothing can be reached through them). QUIET: no log lines.
unmount_all() {
  local target
  while IFS= read -r target; do
    [ -n "$target" ] || continue
    [ "${1:-}" = quiet ] || log "unmounting $target"
    umount "$target" 2>/dev/null || umount -l "$target"
  done < <(mounts_under)
  if [ -n "$(mounts_under)" ]; then
    log "still mounted under $CACHE:"
    mounts_under >&2
    return 1
  fi
}

# Deletes a folder under .cache/sid-root, after making sure nothing is mounted there (a bind mount of the
# repository or of /proc would otherwise be deleted through it). --one-file-system as a second guard.
safe_remove() {
  unmount_all
  rm -rf --one-file-system "$1"
}

build() {
  local want mirror rc
  want="$(printf '%s\n' "$SUITE" "$PACKAGES" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$CACHE/built" 2>/dev/null || true)" = "$want" ] && [ -x "$ROOT/usr/bin/python3.14" ] &&
    [ -x "$ROOT/usr/bin/python3.15" ]; then
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || { log "must run as root (debootstrap, chroot)"; return 1; }
  mirror="$("$PYTHON" scripts/apt_sources.py --reachable "$SUITE")" && rc=0 || rc=$?
  if [ "$rc" -eq "$UNREACHABLE" ]; then
    return "$UNREACHABLE"
  elif [ "$rc" -ne 0 ]; then
    log "could not read the Debian mirror from the apt sources"
    return 1
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  local tmp="$CACHE/root.tmp"
  safe_remove "$tmp"
  safe_remove "$ROOT"
  rm -f "$CACHE/built"
  mkdir -p "$CACHE"
  log "debootstrap --variant=minbase $SUITE with $PACKAGES (mirror from the apt sources); takes a few minutes"
  local started=$SECONDS
  # Its ~600 progress lines go to a log; the end of it is shown when it fails.
  if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
    tail -n 40 "$CACHE/debootstrap.log" >&2
    log "debootstrap failed (whole log: $CACHE/debootstrap.log)"
    return 1
  fi
  # The mirror is a frozen snapshot: sid's Release file expires (Valid-Until) while the mirror keeps serving it.
  cat >"$tmp/etc/apt/apt.conf.d/99no-check-valid-until" <<'EOF'
// The machine's Debian mirror is a snapshot: sid's Release file can be past its Valid-Until date (scripts/sid-root.sh).
Acquire::Check-Valid-Until "false";
Acquire::Check-Date "false";
EOF
  rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/usr/share/doc/* "$tmp"/usr/share/man/* "$tmp"/usr/share/locale/*
  mv "$tmp" "$ROOT"
  printf '%s\n' "$want" >"$CACHE/built"
  log "built in $((SECONDS - started)) s: $(chroot "$ROOT" /usr/bin/python3.14 --version), $(chroot "$ROOT" /usr/bin/python3.15 --version)"
}

# Local paths named by the host's pip configuration: its configuration files, and every absolute path or file:// URL
# in them or in PIP_* variables that exists here (find-links folders, constraints, cert; for a file:// index
# .../simple, the folder that holds it, whose pages link to files beside it).
pip_paths() {
  "$PYTHON" - <<'EOF'
import configparser, os, urllib.parse

home = os.path.expanduser("~")
files = [os.environ.get("PIP_CONFIG_FILE", ""), "/etc/pip.conf"]
files += [os.path.join(d, "pip", "pip.conf") for d in os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":") if d]
files += [os.path.join(os.environ.get("XDG_CONFIG_HOME", os.path.join(home, ".config")), "pip", "pip.conf")]
files += [os.path.join(home, ".pip", "pip.conf")]
files = [f for f in files if f and os.path.isfile(f)]
values = [v for k, v in os.environ.items() if k.startswith("PIP_")]
for path in files:
    parser = configparser.RawConfigParser()
    parser.read(path)
    values += [parser.get(section, option) for section in parser.sections() for option in parser.options(section)]
paths = set(files)
for value in values:
    for word in value.split():
        path = urllib.parse.unquote(urllib.parse.urlparse(word).path) if word.startswith("file:") else word
        if word.startswith("file:") and os.path.basename(path.rstrip("/")) == "simple":
            path = os.path.dirname(path.rstrip("/"))  # a local index: its pages link to files beside simple/
        if path.startswith("/") and os.path.exists(path):
            paths.add(os.path.realpath(path))
for path in sorted(paths):
    print(path)
EOF
}

# Bind-mounts host path SRC at path DEST inside the root (read-only unless MODE is rw). A destination that would leave
# the root through a symbolic link inside it is skipped (checked before anything is created there).
bind() {
  local src="$1" dest="$ROOT$2" mode="${3:-ro}"
  case "$(realpath -m "$dest")" in
    "$ROOT"/*) ;;
    *) log "not mounting $src: $2 leads out of the root"; return 0 ;;
  esac
  if [ -d "$src" ]; then
    mkdir -p "$dest"
  else
    mkdir -p "$(dirname "$dest")"
    if [ -L "$dest" ] || [ ! -f "$dest" ]; then
      rm -f "$dest"
      : >"$dest"
    fi
  fi
  mount --bind "$src" "$dest"
  [ "$mode" = rw ] || mount -o remount,bind,ro "$dest"
}

# The part of `run` inside the private mount namespace (unshare makes every mount in it private: nothing propagates
# to the host). The EXIT trap is a second line: the namespace's mounts go when its last process ends anyway.
inside() {
  trap 'unmount_all quiet || true' EXIT
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  mount --rbind /sys "$ROOT/sys"
  mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
  bind "$repo" "$repo" rw  # after /tmp: a clone under /tmp goes on top of it, not under it
  bind "$(realpath /etc/resolv.conf)" /etc/resolv.conf
  local path
  while IFS= read -r path; do
    case "$path" in "$repo" | "$repo"/*) continue ;; esac
    bind "$path" "$path"
  done < <(pip_paths)
  local status=0
  env -u VIRTUAL_ENV -u PYTHONHOME -u PYTHONPATH -u TMPDIR \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    chroot "$ROOT" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$repo" "$@" || status=$?
  return "$status"
}

run() {
  [ "$(id -u)" -eq 0 ] || { log "must run as root (chroot, mount)"; exit 1; }
  [ -x "$ROOT/usr/bin/python3.14" ] || { log "no root at $ROOT: run '$0 build' first"; exit 1; }
  local status=0
  unshare --mount --propagation private -- bash "$0" _inside "$@" || status=$?
  # The namespace's mounts went with it; this checks the host's table all the same.
  if [ -n "$(mounts_under)" ]; then
    log "mounts left under $CACHE after the command (not expected):"
    mounts_under >&2
    unmount_all
  fi
  return "$status"
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  _inside) shift; inside "$@" ;;
  unmount) unmount_all ;;
  remove) safe_remove "$CACHE" ;;
  *)
    log "usage: $0 build | run COMMAND... | unmount | remove"
    exit 2
    ;;
esac
