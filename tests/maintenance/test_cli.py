"""`nchat maintenance on|off|status` as an operator runs it (a child process), while a
server runs on the same database: it refuses writes once the command says it is on, and
takes them again once it is off."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from nchat.cli.main import app
from tests.fixtures.factories import UserFactory
from tests.fixtures.processes import nchat_env, run_nchat
from tests.maintenance.conftest import PATH
from tests.messaging.helpers import Api
from tests.realtime.nodes import eventually


async def nchat(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        run_nchat, ["maintenance", *args], nchat_env(tmp_path / "cli", database_url)
    )


async def test_on_status_off_through_the_cli(
    database_url: str,
    tmp_path: Path,
    http: httpx.AsyncClient,
    calls: Api,
    make_user: UserFactory,
) -> None:
    admin = await make_user("admin")
    member = await make_user("member")
    channel = await calls.create_channel(member, "cli", members=(admin,))
    send = {"channel_id": channel["id"], "text": "hello"}

    status = await nchat(database_url, tmp_path, "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == "Maintenance mode is off."

    on = await nchat(
        database_url,
        tmp_path,
        "on",
        "--message",
        "Upgrading [tonight]",
        "--allow-admins",
        "--retry-after",
        "45",
    )
    assert on.returncode == 0, on.stderr
    assert "Maintenance mode is on since" in on.stdout
    assert "Upgrading [tonight]" in on.stdout

    async def refused() -> bool:
        response = await http.post("/api/messages", headers=member.headers, json=send)
        return response.status_code == 503

    await eventually(refused, what="the server refuses writes")
    response = await http.post("/api/messages", headers=member.headers, json=send)
    assert response.headers["retry-after"] == "45"
    assert response.json()["error"]["message"] == "Upgrading [tonight]"
    # --allow-admins: an admin still writes.
    assert (await http.post("/api/messages", headers=admin.headers, json=send)).status_code == 201
    state = (await http.get(PATH, headers=admin.headers)).json()
    assert state["enabled"] is True and state["started_by"] is None

    status = await nchat(database_url, tmp_path, "status")
    assert status.returncode == 0, status.stderr
    assert "Upgrading [tonight]" in status.stdout
    assert "Retry-After: 45" in status.stdout and "admins may still write" in status.stdout

    off = await nchat(database_url, tmp_path, "off")
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() == "Maintenance mode is off."

    async def taken() -> bool:
        response = await http.post("/api/messages", headers=member.headers, json=send)
        return response.status_code == 201

    await eventually(taken, what="the server takes writes again")
    again = await nchat(database_url, tmp_path, "off")
    assert again.returncode == 0 and again.stdout.strip() == "Maintenance mode was off already."

    entries = (await http.get("/api/admin/audit", headers=admin.headers)).json()["entries"]
    ours = [e for e in entries if e["target_type"] == "maintenance"][::-1]
    assert [e["action"] for e in ours] == ["maintenance.enabled", "maintenance.disabled"]
    assert all(e["details"]["via"] == "cli" and e["actor_id"] is None for e in ours)


def test_invalid_terms_and_an_unreachable_database(database_url: str, tmp_path: Path) -> None:
    for args in (("--retry-after", "0"), ("--message", "")):
        result = in_process(database_url, tmp_path, "on", *args)
        assert result.exit_code == 2, result.output
        assert "Invalid" in result.output
    status = in_process(database_url, tmp_path, "status")
    assert status.exit_code == 0 and status.stdout.strip() == "Maintenance mode is off."

    unreachable = "postgresql://nchat@127.0.0.1:1/nchat"
    result = in_process(unreachable, tmp_path, "status")
    assert result.exit_code == 1
    assert "cannot reach the database" in result.output


def in_process(database_url: str, tmp_path: Path, *args: str) -> Result:
    env = {"NCHAT_DATABASE_URL": database_url, "NCHAT_DATA_DIR": str(tmp_path / "cli")}
    return CliRunner().invoke(app, ["maintenance", *args], env=env)
