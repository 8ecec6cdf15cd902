from __future__ import annotations

import os
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from nchat.config import load_or_create_secret


def test_secret_is_made_once_with_private_mode_even_when_processes_race(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4) as pool:
        keys = set(pool.map(load_or_create_secret, [tmp_path] * 16))
    assert len(keys) == 1
    key = keys.pop()
    assert len(key) >= 48
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["secret_key"]
    assert load_or_create_secret(tmp_path) == key
