#!/usr/bin/env python3
"""Vendor the web client's libraries from the npm registry: pinned, checksummed, no Node.js.

    python scripts/vendor_web.py            download the pins, verify, write the files and lock
    python scripts/vendor_web.py --check    offline: the committed files match the lock and pins
    python scripts/vendor_web.py --latest   print the registry's latest versions as pins

The files are committed; the server never downloads anything. To refresh a library, run
`--latest`, paste its pin over the old one in PINS below, run the script without arguments,
read the diff and commit it with the lock.

Every tarball is checked against the sha256 pinned here and against the registry's own
`dist.integrity` (sha512), also pinned. Only the listed files are taken. ES modules get
their bare imports ("preact", "preact/hooks"...) rewritten to relative paths, so the page
needs no import map (which would be an inline script); source map comments are dropped
(the maps are not vendored). Each file starts with a banner naming its package, version
and licence; the licence texts are copied too. The lock records the sha256 of every file
written, which `--check` compares without network.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import re
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "src" / "nchat" / "web" / "vendor"
LOCK = VENDOR / "vendor.lock.json"
TIMEOUT_S = 60


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    sha256: str  # of the tarball, computed here when the pin was taken
    integrity: str  # the registry's dist.integrity for this version
    licence: str  # SPDX, as package.json says
    # Path in the tarball (under package/) -> path under web/vendor/.
    files: dict[str, str]
    # The ES modules among the destinations, whose bare imports are rewritten.
    modules: tuple[str, ...] = ()
    # Where the banner points for the licence text (one of the destinations).
    licence_file: str = ""


PINS: tuple[Pin, ...] = (
    Pin(
        name="preact",
        version="11.2.0",
        sha256="3c4456766bd32b6b534d52bf4e9c2a29b33e7eedf6e96ed479300ba1a7888ebf",
        integrity="sha512-/HfHI/7N84e6GrWBJ3J280z3mLaRJiDcSvj/A+y/4AbLnND/1UlGHe1sR6oYuTGwId0nP7dqDU9OnLxMPZ7xBg==",
        licence="MIT",
        files={
            "dist/preact.mjs": "preact.js",
            "hooks/dist/hooks.mjs": "preact-hooks.js",
            "LICENSE": "LICENSES/preact.txt",
        },
        modules=("preact.js", "preact-hooks.js"),
        licence_file="LICENSES/preact.txt",
    ),
    Pin(
        name="htm",
        version="3.1.1",
        sha256="2425b9bee11409177bcabc7f32e319926fc6690c1701c0b257c88bdff2d5ba90",
        integrity="sha512-983Vyg8NwUE7JkZ6NmOqpCZ+sh1bKv2iYTlUkzlWmA5JD2acKoxd4KVxbMmxX/85mtfdnDmTFoNKcg5DGAvxNQ==",
        licence="Apache-2.0",
        files={"dist/htm.mjs": "htm.js", "LICENSE": "LICENSES/htm.txt"},
        modules=("htm.js",),
        licence_file="LICENSES/htm.txt",
    ),
    Pin(
        name="@preact/signals-core",
        version="1.14.5",
        sha256="94c421ac996214c94f532fb4c43d8ede048a16df0cd9538ffb965174dbe8daba",
        integrity="sha512-vcRv7Ityz5JVmeiVqIluLFzT/PDS/AlhHUpw3/aUWqcVUs6bDGIPXE/6RSC4evBNWYvnniozg5Syfj33al3gkg==",
        licence="MIT",
        files={
            "dist/signals-core.mjs": "signals-core.js",
            "LICENSE": "LICENSES/preact-signals-core.txt",
        },
        modules=("signals-core.js",),
        licence_file="LICENSES/preact-signals-core.txt",
    ),
    Pin(
        name="@preact/signals",
        version="2.11.4",
        sha256="66ea8221dd8aaa0da2365d49c3f116b071d56cfb63b2e16c072c6b4e08a928b7",
        integrity="sha512-Rb+5RPo9gWSaHtzJeauhHxiC8KP/IF2DEPkHPEOGOnuy2wnJzRqyeLRankUCYd6ADqtxS6GnWGv6Ie343d8aYw==",
        licence="MIT",
        files={"dist/signals.mjs": "signals.js", "LICENSE": "LICENSES/preact-signals.txt"},
        modules=("signals.js",),
        licence_file="LICENSES/preact-signals.txt",
    ),
    Pin(
        name="swagger-ui-dist",
        version="5.35.0",
        sha256="1b8e891893404ea4c3558b6a87e2a3e494e7eedba41168c2ece5800a391a6ea6",
        integrity="sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
        licence="Apache-2.0",
        files={
            "swagger-ui-bundle.js": "swagger-ui/swagger-ui-bundle.js",
            "swagger-ui.css": "swagger-ui/swagger-ui.css",
            "favicon-32x32.png": "swagger-ui/favicon-32x32.png",
            # The bundle's first line names this file, beside it, for its dependencies.
            "swagger-ui-bundle.js.LICENSE.txt": "swagger-ui/swagger-ui-bundle.js.LICENSE.txt",
            "LICENSE": "LICENSES/swagger-ui-dist.txt",
            "NOTICE": "LICENSES/swagger-ui-dist.NOTICE.txt",
        },
        licence_file="LICENSES/swagger-ui-dist.txt",
    ),
)

# Bare import specifiers -> the vendored module (a path under web/vendor/).
SPECIFIERS = {
    "preact": "preact.js",
    "preact/hooks": "preact-hooks.js",
    "@preact/signals-core": "signals-core.js",
}

# `from "x"`, `import "x"` and `import("x")`, as minifiers write them.
_IMPORT = re.compile(r"""(\bfrom\s*|\bimport\s*\(?\s*)(["'])([^"'\n]+)\2""")
_SOURCE_MAP = re.compile(rb"\n?(//# sourceMappingURL=\S+|/\*# sourceMappingURL=[^*]*\*/)\s*$")


class VendorError(Exception):
    pass


# -- building ---------------------------------------------------------------------------


def tarball_url(pin: Pin) -> str:
    base = pin.name.rsplit("/", 1)[-1]
    return f"{REGISTRY}/{pin.name}/-/{base}-{pin.version}.tgz"


def fetch(url: str) -> bytes:
    if not url.startswith(REGISTRY + "/"):
        raise VendorError(f"refusing to fetch {url}: not the npm registry")
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 - https only
        body: bytes = response.read()
        return body


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def verify_tarball(pin: Pin, data: bytes) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != pin.sha256:
        raise VendorError(f"{pin.name}@{pin.version}: tarball sha256 {got} != pinned {pin.sha256}")
    if integrity_of(data) != pin.integrity:
        raise VendorError(f"{pin.name}@{pin.version}: tarball does not match its integrity")


def extract(pin: Pin, data: bytes) -> dict[str, bytes]:
    """The pinned files of the tarball, by destination, transformed."""
    wanted = {f"package/{source}": dest for source, dest in pin.files.items()}
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            dest = wanted.get(member.name)
            if dest is None or not member.isfile():
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            found[dest] = transform(pin, dest, handle.read())
    missing = sorted(set(wanted.values()) - set(found))
    if missing:
        raise VendorError(f"{pin.name}@{pin.version}: not in the tarball: {missing}")
    return found


def transform(pin: Pin, dest: str, body: bytes) -> bytes:
    if not dest.endswith((".js", ".css")):
        return body
    body = _SOURCE_MAP.sub(b"", body).rstrip(b"\n") + b"\n"
    if dest in pin.modules:
        body = rewrite_imports(dest, body.decode()).encode()
    relative = _relative(dest, pin.licence_file)
    banner = f"/*! {pin.name} {pin.version} ({pin.licence}), licence: {relative} */\n"
    return banner.encode() + body


def rewrite_imports(dest: str, text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        keyword, quote, specifier = match.groups()
        if specifier.startswith(("./", "../")):
            return match.group(0)
        target = SPECIFIERS.get(specifier)
        if target is None:
            raise VendorError(f"{dest}: imports {specifier!r}, which is not vendored")
        return f"{keyword}{quote}{_relative(dest, target)}{quote}"

    return _IMPORT.sub(replace, text)


def _relative(source: str, target: str) -> str:
    """`target` as a URL relative to the module `source` (both paths under web/vendor/)."""
    depth = source.count("/")
    return ("../" * depth if depth else "./") + target


def build() -> tuple[dict[str, bytes], dict[str, object]]:
    """Every vendored file by destination, and the lock describing them."""
    outputs: dict[str, bytes] = {}
    packages: dict[str, object] = {}
    owner: dict[str, str] = {}
    for pin in PINS:
        url = tarball_url(pin)
        print(f"fetching {url}")
        data = fetch(url)
        verify_tarball(pin, data)
        for dest, body in extract(pin, data).items():
            if dest in outputs:
                raise VendorError(f"{dest} is written by both {owner[dest]} and {pin.name}")
            outputs[dest] = body
            owner[dest] = pin.name
        packages[pin.name] = _package_entry(pin)
    files = {
        dest: {
            "package": owner[dest],
            "sha256": hashlib.sha256(body).hexdigest(),
            "bytes": len(body),
        }
        for dest, body in sorted(outputs.items())
    }
    lock: dict[str, object] = {
        "note": "Written by scripts/vendor_web.py; `--check` verifies it. Do not edit.",
        "packages": packages,
        "files": files,
    }
    return outputs, lock


def _package_entry(pin: Pin) -> dict[str, object]:
    return {
        "version": pin.version,
        "tarball": tarball_url(pin),
        "sha256": pin.sha256,
        "integrity": pin.integrity,
        "licence": pin.licence,
        "files": dict(sorted(pin.files.items())),
    }


def write(outputs: dict[str, bytes], lock: dict[str, object]) -> None:
    VENDOR.mkdir(parents=True, exist_ok=True)
    for stale in _present() - set(outputs):
        print(f"removing {stale}")
        (VENDOR / stale).unlink()
    for dest, body in outputs.items():
        path = VENDOR / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    for directory in sorted(VENDOR.rglob("*"), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    LOCK.write_text(json.dumps(lock, indent=2) + "\n")
    total = sum(len(body) for body in outputs.values())
    print(f"wrote {len(outputs)} files ({total} bytes) and {LOCK.relative_to(ROOT)}")


def _present() -> set[str]:
    """The files under web/vendor/ besides the lock."""
    if not VENDOR.exists():
        return set()
    return {
        path.relative_to(VENDOR).as_posix()
        for path in VENDOR.rglob("*")
        if path.is_file() and path != LOCK
    }


# -- checking ---------------------------------------------------------------------------


def check() -> list[str]:
    """What differs between the pins, the lock and the files on disk (empty: all agree)."""
    if not LOCK.exists():
        return [f"{LOCK.relative_to(ROOT)} is missing: run scripts/vendor_web.py"]
    lock = json.loads(LOCK.read_text())
    problems = []
    expected = {pin.name: _package_entry(pin) for pin in PINS}
    if lock.get("packages") != expected:
        problems.append("the lock does not match PINS: run scripts/vendor_web.py")
    locked: dict[str, dict[str, object]] = lock.get("files", {})
    pinned = {dest for pin in PINS for dest in pin.files.values()}
    if set(locked) != pinned:
        problems.append(f"the lock lists other files than PINS: {sorted(set(locked) ^ pinned)}")
    for dest, entry in sorted(locked.items()):
        path = VENDOR / dest
        if not path.is_file():
            problems.append(f"{dest}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256"):
            problems.append(f"{dest}: differs from the lock")
    for stray in sorted(_present() - set(locked)):
        problems.append(f"{stray}: not vendored by this script")
    return problems


# -- refreshing -------------------------------------------------------------------------


def latest() -> None:
    """Print each pinned package's latest version as a pin to paste (files unchanged)."""
    for pin in PINS:
        meta = json.loads(fetch(f"{REGISTRY}/{pin.name}/latest"))
        version = meta["version"]
        current = Pin(pin.name, version, "", meta["dist"]["integrity"], pin.licence, {})
        data = fetch(tarball_url(current))
        if integrity_of(data) != meta["dist"]["integrity"]:
            raise VendorError(f"{pin.name}@{version}: tarball does not match its integrity")
        marker = "" if version == pin.version else f"   (pinned: {pin.version})"
        print(f"{pin.name} {version}{marker}")
        print(f'    version="{version}",')
        print(f'    sha256="{hashlib.sha256(data).hexdigest()}",')
        print(f'    integrity="{meta["dist"]["integrity"]}",')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="verify the files offline")
    mode.add_argument("--latest", action="store_true", help="print the latest versions as pins")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check()
            for problem in problems:
                print(problem, file=sys.stderr)
            if problems:
                return 1
            print(f"{len(json.loads(LOCK.read_text())['files'])} vendored files match the lock")
            return 0
        if args.latest:
            latest()
            return 0
        write(*build())
    except VendorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
