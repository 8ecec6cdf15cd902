"""The web client's files, served under one content-hashed prefix.

Everything a page loads lives under `web/` (`css/`, `img/`, `js/`, `vendor/`) and is served
at `/assets/<version>/<its path under web/>`, where the version is a hash of the whole tree
taken at start. Those URLs never change meaning, so browsers keep them for a year; the
pages, never cached, name the current version. One hash for the tree, not one per file:
ES modules import each other by relative URL, and per-file names would need every import
rewritten, which is a build step. A change to any file makes every URL new; the tree is
small enough for that not to matter.

Besides the files, the tree holds what is made from installed libraries when it is read:
`data/emoji.json` (see `emoji_data`).

The pages (`index.html`, `docs.html`) are templates whose `%ASSETS%` becomes the prefix and
whose `%MODULES%` becomes a `modulepreload` link for each module of the client; every asset
they name must exist, or the start fails.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import posixpath
import re
from pathlib import Path, PurePosixPath

from nchat.web.emoji_data import emoji_json

WEB_DIR = Path(__file__).parent
ASSETS_PATH = "/assets"
SERVED_DIRS = ("css", "img", "js", "vendor")
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
COMPRESSIBLE = frozenset({".js", ".css", ".svg", ".txt", ".json"})
# JSON in the tree is the vendoring script's lock, not for browsers: JSON is served only as
# made at start (`data/`).
FILE_SUFFIXES = frozenset(CONTENT_TYPES) - {".json"}
# Below this, gzip's header and a second round of work cost more than they save.
MIN_COMPRESS_BYTES = 1024
VERSION_CHARS = 16
WORKER_FILE = "sw.js"

_PLACEHOLDER = "%ASSETS%"
_MODULES = "%MODULES%"
# Static imports by relative URL (tests/web/test_serving.py). A dynamic `import("./x.js")`
# is left out on purpose: a panel loaded when first opened, not with the page.
_IMPORT = re.compile(r"""(?:\bfrom|^import)\s*["'](\.{1,2}/[^"']+)["']""", re.MULTILINE)
_REFERENCE = re.compile(r'(?:src|href)="(/assets/[^"]*)"')


class Asset:
    """One served file: its bytes, type and strong ETag; the gzipped bytes once made."""

    __slots__ = ("body", "compressible", "content_type", "digest", "etag", "gzip_etag", "gzipped")

    def __init__(self, body: bytes, suffix: str) -> None:
        self.body = body
        self.content_type = CONTENT_TYPES[suffix]
        self.digest = hashlib.sha256(body).hexdigest()
        self.etag = f'"{self.digest[:32]}"'
        self.gzip_etag = f'"{self.digest[:32]}-gzip"'
        self.compressible = suffix in COMPRESSIBLE and len(body) >= MIN_COMPRESS_BYTES
        self.gzipped: bytes | None = None

    def compress(self) -> bytes:
        """Gzip the body, once per process, when first asked for (in a worker thread: the
        Swagger UI bundle takes about 0.1 s, which only the first visitor waits for)."""
        if self.gzipped is None:
            self.gzipped = gzip.compress(self.body, compresslevel=9, mtime=0)
        return self.gzipped


class Page:
    """An HTML page, its asset URLs filled in, with a strong ETag."""

    __slots__ = ("body", "etag")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'


class Site:
    """The served tree under its version, and the pages that load it."""

    def __init__(self, root: Path = WEB_DIR) -> None:
        self.files: dict[str, Asset] = {}
        for directory in SERVED_DIRS:
            for path in sorted((root / directory).rglob("*")):
                if path.is_file() and path.suffix in FILE_SUFFIXES:
                    self.files[path.relative_to(root).as_posix()] = Asset(
                        path.read_bytes(), path.suffix
                    )
        self.files["data/emoji.json"] = Asset(emoji_json(), ".json")
        tree = hashlib.sha256()
        for name, asset in sorted(self.files.items()):
            tree.update(f"{name}\0{asset.digest}\n".encode())
        self.version = tree.hexdigest()[:VERSION_CHARS]
        self.prefix = f"{ASSETS_PATH}/{self.version}"
        self.index = self._page(root / "index.html")
        self.docs = self._page(root / "docs.html")
        # Served at /sw.js, outside the versioned tree: a worker's URL must stay the same
        # for the browser to update it in place, and its scope is the folder it is in.
        self.worker = Asset((root / WORKER_FILE).read_bytes(), ".js")

    def get(self, version: str, path: str) -> Asset | None:
        """The file at `path` if `version` is this tree's; an older tree's URLs are gone."""
        return self.files.get(path) if version == self.version else None

    def url(self, path: str) -> str:
        if path not in self.files:
            raise KeyError(path)
        return f"{self.prefix}/{path}"

    def modules(self, entry: str = "js/app.js") -> list[str]:
        """The modules `entry` imports, directly or not, and itself: preloaded by the page,
        so the browser fetches them all at once instead of one level of imports at a time."""
        pending, seen = [entry], set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            base = PurePosixPath(name).parent
            for specifier in _IMPORT.findall(self.files[name].body.decode()):
                pending.append(posixpath.normpath(base / specifier))
        return sorted(seen)

    def _page(self, template: Path) -> Page:
        preloads = "\n".join(
            f'<link rel="modulepreload" href="{_PLACEHOLDER}/{name}">' for name in self.modules()
        )
        html = template.read_text().replace(_MODULES, preloads).replace(_PLACEHOLDER, self.prefix)
        for url in _REFERENCE.findall(html):
            if not url.startswith(self.prefix + "/") or url[len(self.prefix) + 1 :] not in self:
                raise RuntimeError(f"{template.name} names {url}, which is not served")
        return Page(html.encode())

    def __contains__(self, path: str) -> bool:
        return path in self.files


@functools.cache
def load() -> Site:
    """The installed client, read once per process (the files do not change while it runs)."""
    return Site()
