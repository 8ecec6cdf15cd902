"""The vendored libraries are the pinned ones, unchanged since the script wrote them, and
only the facade module names them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from nchat.web.assets import WEB_DIR

SCRIPT = Path(__file__).parents[2] / "scripts" / "vendor_web.py"


def test_every_vendored_file_matches_the_lock() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "match the lock" in done.stdout


def test_only_the_facade_imports_the_vendored_libraries() -> None:
    """One place names library versions and files (js/lib/html.js), so there is exactly
    one copy of Preact and a library swap touches one file."""
    importers = sorted(
        path.relative_to(WEB_DIR).as_posix()
        for path in (WEB_DIR / "js").rglob("*.js")
        if re.search(r"""from\s*["'][./]*vendor/""", path.read_text())
    )
    assert importers == ["js/lib/html.js"]
