"""`nchat config get|set|export|import`: the app configuration from the shell, checked like
PATCH /api/admin/config, each change a new version with its audit entry and event."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import orjson
import typer
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin import config_history, sections
from nchat.admin.service import get_config
from nchat.cli.common import console, database_url, err_console, fail, operator_errors
from nchat.config import Settings
from nchat.db.engine import create_engine
from nchat.db.transaction import Effects, transaction
from nchat.errors import NchatError, ValidationFailed
from nchat.realtime.redis_bus import publish_once
from nchat.realtime.topics import EVENTS

app = typer.Typer(help="Read and change the app configuration.", no_args_is_help=True)

EXIT_FAILED = 1
EXIT_INVALID = 2
# An import file is a configuration, not a dump: far below any real one's size.
MAX_IMPORT_BYTES = 1024 * 1024

Work = Callable[[AsyncConnection], Awaitable[Any]]


def _run(work: Work) -> Any:
    settings = Settings()

    async def announce(url: str, done: Effects) -> None:
        """Wake running servers' hubs, so open clients hear config.updated now."""
        if not done.events:
            return
        try:
            await publish_once(
                database_url=url,
                redis_url=settings.redis_url,
                redis_prefix=settings.redis_prefix,
                topic=EVENTS,
                payload="",
            )
        except (RedisError, OSError, asyncpg.PostgresError) as exc:
            err_console.print(f"Warning: running servers were not told ({exc})", soft_wrap=True)

    async def runner(url: str) -> Any:
        engine = create_engine(url, pool_size=1)
        try:
            async with transaction(engine, lambda done: announce(url, done)) as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    with operator_errors(), database_url(settings) as url:
        try:
            return asyncio.run(runner(url))
        except ValidationFailed as exc:
            problems = exc.details.get("errors") or [{"loc": [], "msg": exc.message}]
            lines = [f"{'.'.join(p['loc']) or 'config'}: {p['msg']}" for p in problems]
            raise fail("Invalid configuration:\n" + "\n".join(lines), EXIT_INVALID) from exc
        except NchatError as exc:
            raise fail(f"Error: {exc.message} ({exc.code})", EXIT_FAILED) from exc


def _print(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _value(text: str) -> Any:
    """JSON when it parses (true, 3, "x", {...}), else the text itself."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


@app.command("get")
def get(
    section: Annotated[str | None, typer.Argument(help="One section, e.g. features")] = None,
) -> None:
    """Print the configuration (or one section) as JSON."""
    if section is not None and section not in sections.SECTIONS:
        raise fail(
            f"Unknown section {section!r}: one of {', '.join(sections.SECTIONS)}", EXIT_INVALID
        )
    config = _run(get_config)
    _print(config if section is None else config[section])


# A negative number is a value, not an option.
@app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    key: Annotated[str, typer.Argument(help="SECTION.KEY, e.g. features.search")],
    value: Annotated[str, typer.Argument(help='A JSON value (true, 10, "x"), else text')],
) -> None:
    """Change one key, checked like PATCH /api/admin/config."""
    path = key.split(".")
    if len(path) < 2 or path[0] not in sections.EDITABLE_SECTIONS or not all(path):
        raise fail(
            f"Invalid key {key!r}: SECTION.KEY with SECTION one of "
            f"{', '.join(sections.EDITABLE_SECTIONS)}",
            EXIT_INVALID,
        )
    change: Any = _value(value)
    for part in reversed(path):
        change = {part: change}

    async def work(conn: AsyncConnection) -> None:
        await config_history.do_patch(conn, change, actor_id=None, where=())

    _run(work)
    console.print(f"Set {key}")


@app.command("export")
def export(
    file: Annotated[Path | None, typer.Argument(help="Write here instead of stdout")] = None,
) -> None:
    """The editable sections as JSON (not setup and owner: they belong to this server)."""
    config = _run(get_config)
    portable = {s: config[s] for s in sections.EDITABLE_SECTIONS}
    if file is None:
        _print(portable)
        return
    file.write_bytes(orjson.dumps(portable, option=orjson.OPT_INDENT_2) + b"\n")
    console.print(f"Exported the configuration to {file}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A file `nchat config export` wrote")],
) -> None:
    """Replace the editable sections with the file's, checked whole, as one new version."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise fail(f"Cannot read {file}: {exc.strerror or exc}", EXIT_FAILED) from exc
    if len(raw) > MAX_IMPORT_BYTES:
        raise fail(f"{file} is larger than {MAX_IMPORT_BYTES} bytes", EXIT_INVALID)
    try:
        whole = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise fail(f"{file} is not JSON: {exc}", EXIT_INVALID) from exc
    if not isinstance(whole, dict):
        raise fail(f"{file} does not hold a JSON object", EXIT_INVALID)
    foreign = sorted(set(whole) - set(sections.EDITABLE_SECTIONS))
    if foreign:
        raise fail(
            f"Invalid configuration: {', '.join(foreign)}: not an importable section", EXIT_INVALID
        )

    async def work(conn: AsyncConnection) -> None:
        await config_history.do_replace(conn, whole, actor_id=None, action="import", where=())

    _run(work)
    console.print(f"Imported the configuration from {file}")
