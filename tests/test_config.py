from __future__ import annotations

import os
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from nchat.config import Settings, load_or_create_secret


def test_secret_is_made_once_with_private_mode_even_when_processes_race(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4) as pool:
        keys = set(pool.map(load_or_create_secret, [tmp_path] * 16))
    assert len(keys) == 1
    key = keys.pop()
    assert len(key) >= 48
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["secret_key"]
    assert load_or_create_secret(tmp_path) == key


@pytest.mark.parametrize("value", ["0.5", "31", "soon"])
def test_a_heartbeat_outside_1_to_30_seconds_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Above 30 s a socket's presence row would go stale (60 s) between two heartbeats.
    monkeypatch.setenv("NCHAT_WS_HEARTBEAT_S", value)
    with pytest.raises(ValidationError):
        Settings()


def test_the_heartbeat_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().ws_heartbeat_s == 25
    monkeypatch.setenv("NCHAT_WS_HEARTBEAT_S", "5")
    assert Settings().ws_heartbeat_s == 5
