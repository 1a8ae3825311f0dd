"""The machine's Debian mirror, read from its apt sources at run time (so no host name is written in a file).

Usage: python3 scripts/apt_sources.py
           prints "MIRROR SUITE": the first 'deb' entry of the distribution's main suite (not -updates, -security,
           -backports), one-line sources.list format or deb822 *.sources, whose components include main.
       python3 scripts/apt_sources.py --reachable SUITE
           prints the mirror and exits 0 when MIRROR/dists/SUITE/InRelease can be fetched; exits 3 with the reason
           on stderr when there is no mirror in the apt sources or it cannot be reached (a skip, not a failure, for
           callers such as scripts/sid-root.sh).

Used by scripts/standin-base/build.sh (the stand-in base's debootstrap) and scripts/sid-root.sh (the Debian sid root
that holds Python 3.14 and 3.15). Only the standard library, on any Python 3 the host has.
"""

from __future__ import annotations

import glob
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

UNREACHABLE = 3


def entries() -> Iterator[tuple[str, str, list[str]]]:
    """(uri, suite, components) of every enabled 'deb' source, one-line files first."""
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            with open(path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                yield words[1], words[2], words[3:]
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path, encoding="utf-8") as file:
            text = file.read()
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            key = None
            for line in stanza.splitlines():
                if line.startswith("#"):
                    continue
                if line[:1] in (" ", "\t") and key:
                    fields[key] += " " + line.strip()
                elif ":" in line:
                    key, _, value = line.partition(":")
                    key = key.strip().lower()
                    fields[key] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                for suite in fields.get("suites", "").split():
                    yield uri, suite, fields.get("components", "").split()


def main_source() -> tuple[str, str] | None:
    for uri, suite, components in entries():
        if "-" not in suite and "/" not in suite and "main" in components:
            return uri.rstrip("/"), suite
    return None


def main(argv: list[str]) -> int:
    source = main_source()
    if not argv:
        if source is None:
            print("no 'deb URI SUITE main' entry found in the apt sources", file=sys.stderr)
            return 1
        print(*source)
        return 0
    if len(argv) != 2 or argv[0] != "--reachable":
        print(__doc__, file=sys.stderr)
        return 2
    if source is None:
        print("no Debian mirror in this machine's apt sources", file=sys.stderr)
        return UNREACHABLE
    mirror, suite = source[0], argv[1]
    try:
        with urllib.request.urlopen(f"{mirror}/dists/{suite}/InRelease", timeout=30) as response:
            response.read(1)
    except (OSError, urllib.error.URLError) as error:
        print(f"the Debian archive's {suite} suite cannot be reached from here: {error}", file=sys.stderr)
        return UNREACHABLE
    print(mirror)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
