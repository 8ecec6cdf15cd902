"""What a retention run deletes: messages past their channel's limit (the channel's own policy,
else the workspace's), pinned ones only when the policy says so, threads as a whole once the
last reply is past it, and the files those messages carry. A dry run counts exactly what a run
then deletes; the run is also the daily job on the queue, in batches."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import background, housekeeping
from nchat.appstate import get
from nchat.jobs.queue import defer
from nchat.retention import service, tasks
from tests.files.helpers import object_keys, storage_of, uploaded
from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api
from tests.realtime.nodes import eventually
from tests.retention.helpers import (
    age,
    by_channel,
    dry_run,
    remaining,
    scalar,
    set_channel,
    set_global,
)


async def test_a_dry_run_counts_what_the_run_then_deletes_per_channel(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    general = await api.create_channel(ada, "general")
    forever = await api.create_channel(ada, "forever")
    short = await api.create_channel(ada, "short", type_="private")
    sent: dict[str, list[str]] = {}
    for channel in (general, forever, short):
        sent[channel["name"]] = [
            (await api.send(ada, channel["id"], f"{channel['name']} {n}"))["id"] for n in range(6)
        ]
    # general: 40, 40, 20 days old, and three of today; the others alike.
    for name in sent:
        await age(engine, sent[name][:2], 40)
        await age(engine, sent[name][2:3], 20)
    await set_global(client, admin, 30)
    await set_channel(client, admin, forever["id"], None)
    await set_channel(client, admin, short["id"], 10)

    counted = await dry_run(client, admin)
    assert counted["dry_run"] is True
    assert (counted["messages"], counted["files"]) == (5, 0)
    assert by_channel(counted) == {short["id"]: (3, 0), general["id"]: (2, 0)}
    assert [c["name"] for c in counted["channels"]] == ["short", "general"]  # most first
    assert [c["message_days"] for c in counted["channels"]] == [10, 30]
    everything = [i for ids in sent.values() for i in ids]
    assert await remaining(engine, everything) == set(everything)

    done = await service.run(engine.begin)
    assert done.dry_run is False
    assert (done.messages, done.files) == (counted["messages"], counted["files"])
    assert {str(c.channel_id): (c.messages, c.files) for c in done.channels} == by_channel(counted)
    assert await remaining(engine, everything) == set(everything) - {
        *sent["general"][:2],
        *sent["short"][:3],
    }
    page = await api.history(ada, general["id"])
    assert [m["text"] for m in reversed(page["messages"])] == [f"general {n}" for n in range(2, 6)]
    assert (await dry_run(client, admin))["messages"] == 0
    runs = await client.get(
        "/api/admin/audit", headers=admin.headers, params={"action": "retention.run"}
    )
    assert [e["details"] for e in runs.json()["entries"]] == [{"messages": 5, "files": 0}]


async def test_pinned_messages_are_kept_unless_the_policy_includes_them(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    channel = await api.create_channel(ada, "general")
    pinned = await api.send(ada, channel["id"], "the rules")
    plain = await api.send(ada, channel["id"], "hello")
    r = await client.post(f"/api/messages/{pinned['id']}/pin", headers=ada.headers)
    assert r.status_code == 200, r.text
    # A pinned reply keeps its thread's root too.
    root = await api.send(ada, channel["id"], "a question")
    answer = await api.send(ada, channel["id"], "the answer", thread_id=root["id"])
    chatter = await api.send(ada, channel["id"], "thanks", thread_id=root["id"])
    r = await client.post(f"/api/messages/{answer['id']}/pin", headers=ada.headers)
    assert r.status_code == 200, r.text
    ids = [pinned["id"], plain["id"], root["id"], answer["id"], chatter["id"]]
    await age(engine, ids, 400)
    await set_global(client, admin, 365)

    assert (await dry_run(client, admin))["messages"] == 2
    assert (await service.run(engine.begin)).messages == 2
    assert await remaining(engine, ids) == {pinned["id"], root["id"], answer["id"]}

    await set_channel(client, admin, channel["id"], 365, include_pinned=True)
    assert (await dry_run(client, admin))["messages"] == 3
    assert (await service.run(engine.begin)).messages == 3
    assert await remaining(engine, ids) == set()
    assert await scalar(engine, "SELECT count(*) FROM nchat_pinned_messages") == 0


async def test_a_thread_goes_with_its_last_reply_and_old_replies_go_alone(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    channel = await api.create_channel(ada, "general")

    async def thread(text: str, replies: int) -> tuple[str, list[str]]:
        root = await api.send(ada, channel["id"], text)
        said = [
            (await api.send(ada, channel["id"], f"{text} {n}", thread_id=root["id"]))["id"]
            for n in range(replies)
        ]
        return root["id"], said

    quiet_root, quiet_replies = await thread("quiet", 3)
    live_root, live_replies = await thread("live", 3)
    await age(engine, [quiet_root, *quiet_replies, live_root, *live_replies[:2]], 60)
    # A reply deleted by its author before: it no longer counts on its root.
    r = await client.delete(f"/api/messages/{live_replies[0]}", headers=ada.headers)
    assert r.status_code in (200, 204), r.text
    await set_global(client, admin, 30)

    counted = await dry_run(client, admin)
    assert counted["messages"] == 6  # the quiet thread whole, two old replies of the live one
    assert (await service.run(engine.begin)).messages == counted["messages"]
    everything = [quiet_root, *quiet_replies, live_root, *live_replies]
    # The live thread's root stays while a reply younger than the limit does.
    assert await remaining(engine, everything) == {live_root, live_replies[2]}
    root = await client.get(f"/api/messages/{live_root}", headers=ada.headers)
    assert root.status_code == 200, root.text
    assert root.json()["reply_count"] == 1
    replies = await client.get(f"/api/messages/{live_root}/thread", headers=ada.headers)
    assert [m["id"] for m in replies.json()["replies"]] == [live_replies[2]]

    # Once its last reply is past the limit too, the thread goes whole.
    await age(engine, [live_replies[2]], 31)
    assert (await dry_run(client, admin))["messages"] == 2
    assert (await service.run(engine.begin)).messages == 2
    assert await remaining(engine, everything) == set()


async def test_files_of_deleted_messages_are_queued_then_removed_from_the_store(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine, app: FastAPI
) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    channel = await api.create_channel(ada, "general")
    old_file = await uploaded(client, ada, b"old minutes", "old.txt")
    new_file = await uploaded(client, ada, b"new minutes", "new.txt")
    old = await api.send(ada, channel["id"], "old", file_ids=[old_file["id"]])
    new = await api.send(ada, channel["id"], "new", file_ids=[new_file["id"]])
    await age(engine, [old["id"]], 100)
    await set_global(client, admin, 90)

    counted = await dry_run(client, admin)
    assert (counted["messages"], counted["files"]) == (1, 1)
    assert by_channel(counted) == {channel["id"]: (1, 1)}
    done = await service.run(engine.begin)
    assert (done.messages, done.files) == (1, 1)
    assert await remaining(engine, [old["id"], new["id"]]) == {new["id"]}
    queued = await scalar(engine, "SELECT array_agg(key) FROM nchat_file_deletions")
    assert queued == [old_file["id"]]
    assert old_file["id"] in await object_keys(app)  # queued, not removed yet
    r = await client.get(old_file["url"], headers=ada.headers)
    assert r.status_code == 404  # its row is gone already

    await housekeeping.run_once(engine, app.state.settings, storage_of(app))
    # (The store is the session's: other tests' objects may be there too.)
    keys = await object_keys(app)
    assert old_file["id"] not in keys and new_file["id"] in keys
    assert await scalar(engine, "SELECT count(*) FROM nchat_file_deletions") == 0


MANY = """
INSERT INTO nchat_messages (id, channel_id, user_id, text, created_at)
SELECT gen_random_uuid(), :channel_id, :user_id, 'old ' || n, now() - interval '3 days'
FROM generate_series(1, :n) AS n
"""


async def test_the_daily_job_on_the_queue_deletes_more_than_a_batch(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine, app: FastAPI
) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    channel = await api.create_channel(ada, "general")
    kept = await api.send(ada, channel["id"], "today")
    rows = service.BATCH * 2 + 37
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(MANY), {"channel_id": channel["id"], "user_id": ada.id, "n": rows}
        )
    await set_global(client, admin, 1)
    assert (await dry_run(client, admin))["messages"] == rows

    jobs = get(app, background.BACKGROUND).jobs
    periodic = jobs.periodic_registry.periodic_tasks
    assert periodic[(tasks.TASK, tasks.TASK)].cron == tasks.CRON
    # What the schedule does once a day, now: the app's own worker runs it.
    await defer(jobs, tasks.TASK, task_kwargs={"timestamp": 0})

    async def gone() -> bool:
        left = await scalar(
            engine, "SELECT count(*) FROM nchat_messages WHERE channel_id = :c", c=channel["id"]
        )
        return bool(left == 1)

    await eventually(gone, what="the retention job to delete the old messages")
    assert await remaining(engine, [kept["id"]]) == {kept["id"]}

    async def audited() -> bool:
        details = await scalar(
            engine, "SELECT details FROM nchat_audit_log WHERE action = 'retention.run'"
        )
        return bool(details == {"messages": rows, "files": 0})

    await eventually(audited, what="the run to be audited")


async def test_a_small_batch_size_still_deletes_everything(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    channel = await api.create_channel(ada, "general")
    async with engine.begin() as conn:
        await conn.execute(sa.text(MANY), {"channel_id": channel["id"], "user_id": ada.id, "n": 23})
    await set_global(client, admin, 2)
    done = await service.run(engine.begin, batch=5)
    assert done.messages == 23
    assert await scalar(engine, "SELECT count(*) FROM nchat_messages") == 0


async def test_the_daily_job_waits_out_maintenance_mode(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine, app: FastAPI
) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    channel = await api.create_channel(ada, "general")
    old = await api.send(ada, channel["id"], "old")
    await age(engine, [old["id"]], 100)
    await set_global(client, admin, 90)
    r = await client.put(
        "/api/admin/maintenance", headers=admin.headers, json={"message": "Upgrading"}
    )
    assert r.status_code == 200, r.text
    try:
        jobs = get(app, background.BACKGROUND).jobs
        await defer(jobs, tasks.TASK, task_kwargs={"timestamp": 0})

        async def ran() -> bool:  # a job that succeeds leaves the table
            left = await scalar(
                engine, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t", t=tasks.TASK
            )
            return bool(left == 0)

        await eventually(ran, what="the retention job to run")
        assert await remaining(engine, [old["id"]]) == {old["id"]}
    finally:
        r = await client.delete("/api/admin/maintenance", headers=admin.headers)
        assert r.status_code in (200, 204), r.text
