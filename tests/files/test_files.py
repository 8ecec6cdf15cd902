"""Uploads and downloads through HTTP, on the local store and on S3 (rclone), with the
records messages carry and the store's objects checked after each."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import housekeeping
from tests.files.helpers import (
    chunks_of,
    fetch,
    file_rows,
    object_keys,
    png,
    storage_of,
    upload,
    uploaded,
)
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api


async def test_upload_and_download_round_trip(
    fclient: httpx.AsyncClient, fusers: UserFactory, files_app: FastAPI
) -> None:
    ada = await fusers()
    data = "Grüße aus dem Büro\n".encode() * 1000
    hostile = "../../etc/pass\u202ewd.txt"  # a path, and a right-to-left override
    r = await upload(fclient, ada, data, name=hostile, content_type="image/png")
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["size"] == len(data)
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    # The type comes from the bytes, not the client; the name is cleaned for display.
    assert record["content_type"] == "text/plain; charset=utf-8"
    assert record["name"] == "_.._etc_passwd.txt"
    assert record["url"] == f"/api/files/{record['id']}"
    assert record["thumbnail_url"] is None
    assert await object_keys(files_app) == [record["id"]]  # the key is the id, not the name

    got = await fetch(fclient, ada, record["url"])
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"].startswith("text/plain")
    assert "inline" in got.headers["content-disposition"]


async def test_local_downloads_stream_ranges_and_s3_redirects(
    fclient: httpx.AsyncClient, fusers: UserFactory, files_app: FastAPI
) -> None:
    ada = await fusers()
    data = bytes(range(256)) * 400
    record = await uploaded(fclient, ada, data, "blob.bin")
    assert record["content_type"] == "application/octet-stream"
    direct = await fclient.get(record["url"], headers=ada.headers)
    if storage_of(files_app).name == "s3":
        assert direct.status_code == 302
        assert direct.headers["location"].startswith(files_app.state.settings.s3_endpoint_url)
        assert "X-Amz-Signature" in direct.headers["location"]
    else:
        assert direct.status_code == 200
        assert direct.headers["etag"] == f'"{record["sha256"]}"'
        assert direct.headers["cache-control"].startswith("private")
        assert "sandbox" in direct.headers["content-security-policy"]
        assert direct.headers["x-content-type-options"] == "nosniff"
        again = await fclient.get(
            record["url"], headers={**ada.headers, "If-None-Match": direct.headers["etag"]}
        )
        assert again.status_code == 304
    part = await fetch(fclient, ada, record["url"], Range="bytes=1000-1999")
    # rclone answers a range with 200 (and the range's bytes); S3 and nchat say 206.
    assert part.status_code == (200 if storage_of(files_app).name == "s3" else 206)
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert part.content == data[1000:2000]
    assert "attachment" in part.headers["content-disposition"]


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("page.html", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "text/html"),
        ("logo.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', None),
        ("doc.pdf", b"%PDF-1.7\n1 0 obj<<>>endobj\n", "application/pdf"),
    ],
)
async def test_active_types_are_attachments_and_sandboxed(
    fclient: httpx.AsyncClient, fusers: UserFactory, name: str, data: bytes, kind: str | None
) -> None:
    ada = await fusers()
    record = await uploaded(fclient, ada, data, name)
    if kind is not None:
        assert record["content_type"] == kind
    assert not record["content_type"].startswith("text/plain")
    got = await fetch(fclient, ada, record["url"])
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-disposition"].startswith("attachment")


async def test_an_upload_over_the_limit_leaves_nothing(
    fclient: httpx.AsyncClient,
    fusers: UserFactory,
    files_app: FastAPI,
    engine: AsyncEngine,
) -> None:
    ada = await fusers()
    admin = await fusers("admin")
    r = await fclient.patch(
        "/api/admin/config", headers=admin.headers, json={"files": {"max_upload_bytes": 10_000}}
    )
    assert r.status_code == 200, r.text
    declared = await upload(fclient, ada, b"x" * 20_000)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "file_too_large"
    # Streamed without a length: cut off once past the limit, the half-written object gone.
    body = io.BytesIO()
    boundary = "nchat-test-boundary"
    body.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    body.write(b"y" * 200_000)
    body.write(f"\r\n--{boundary}--\r\n".encode())
    streamed = await fclient.post(
        "/api/files",
        headers={**ada.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=chunks_of(body.getvalue(), 4096),
    )
    assert streamed.status_code == 413, streamed.text
    assert await file_rows(engine) == 0
    assert await object_keys(files_app) == []
    small = await upload(fclient, ada, b"z" * 9_000)
    assert small.status_code == 201


async def test_a_client_that_goes_away_halfway_leaves_nothing(
    files_app: FastAPI, fusers: UserFactory, engine: AsyncEngine, fclient: httpx.AsyncClient
) -> None:
    ada = await fusers()
    boundary = b"gone-boundary"
    head = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.bin"'
        b"\r\n\r\n" + b"a" * 300_000
    )
    messages = [
        {"type": "http.request", "body": head[:100_000], "more_body": True},
        {"type": "http.request", "body": head[100_000:], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/files",
        "raw_path": b"/api/files",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"content-type", b"multipart/form-data; boundary=" + boundary),
            (b"content-length", b"400000"),
            (b"authorization", ada.headers["Authorization"].encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
        "state": {},
    }
    await files_app(scope, receive, send)  # type: ignore[arg-type]
    assert await file_rows(engine) == 0
    assert await object_keys(files_app) == []


async def test_images_get_oriented_thumbnails_without_metadata(
    fclient: httpx.AsyncClient, fusers: UserFactory, files_app: FastAPI
) -> None:
    ada = await fusers()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # a GPS position
    photo = png(800, 600, exif=exif)
    record = await uploaded(fclient, ada, photo, "holiday.jpg")
    assert record["content_type"] == "image/jpeg"
    assert (record["width"], record["height"]) == (600, 800)  # as shown, turned
    for variant in ("thumbnail_url", "preview_url"):
        got = await fetch(fclient, ada, record[variant])
        assert got.status_code == 200, variant
        with Image.open(io.BytesIO(got.content)) as image:
            assert image.format == "WEBP"
            assert image.width < image.height  # the orientation was applied
            assert not image.getexif()  # nothing of the original's metadata
    assert sorted(await object_keys(files_app)) == sorted(
        [record["id"], f"{record['id']}.preview", f"{record['id']}.thumbnail"]
    )


async def test_images_too_large_to_decode_are_refused(
    fclient: httpx.AsyncClient, fusers: UserFactory, files_app: FastAPI, engine: AsyncEngine
) -> None:
    ada = await fusers()
    # 1,200 x 1,000 pixels: over this test server's limit of 1,000,000.
    files_app.state.settings.image_max_pixels = 1_000_000
    try:
        r = await upload(fclient, ada, png(1200, 1000), "wide.png")
    finally:
        files_app.state.settings.image_max_pixels = 50_000_000
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "image_too_large"
    assert await file_rows(engine) == 0
    assert await object_keys(files_app) == []


async def test_uploads_can_be_switched_off(fclient: httpx.AsyncClient, fusers: UserFactory) -> None:
    ada = await fusers()
    admin = await fusers("admin")
    r = await fclient.patch(
        "/api/admin/config", headers=admin.headers, json={"features": {"file_uploads": False}}
    )
    assert r.status_code == 200, r.text
    refused = await upload(fclient, ada, b"hello")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "uploads_disabled"
    public = (await fclient.get("/api/config")).json()
    assert public["file_uploads"] is False


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not multipart at all",
        b'--x\r\nContent-Disposition: form-data; name="other"\r\n\r\nv\r\n--x--\r\n',
    ],
)
async def test_malformed_uploads_are_422(
    fclient: httpx.AsyncClient, fusers: UserFactory, body: bytes
) -> None:
    ada = await fusers()
    r = await fclient.post(
        "/api/files",
        headers={**ada.headers, "Content-Type": "multipart/form-data; boundary=x"},
        content=body,
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_upload"
    plain = await fclient.post(
        "/api/files", headers={**ada.headers, "Content-Type": "text/plain"}, content=b"hi"
    )
    assert plain.status_code == 422


async def test_messages_carry_their_files_everywhere(
    fclient: httpx.AsyncClient, fusers: UserFactory, fapi: Api
) -> None:
    ada = await fusers()
    bob = await fusers()
    channel = await fapi.create_channel(ada, "shared", members=(bob,))
    one = await uploaded(fclient, ada, b"first", "one.txt")
    two = await uploaded(fclient, ada, png(40, 30), "two.png")
    start = await fclient.get("/api/sync/changes", headers=bob.headers)
    cursor = start.json()["cursor"]
    sent = await fapi.send(ada, channel["id"], "", file_ids=[two["id"], one["id"]])
    assert [f["id"] for f in sent["files"]] == [two["id"], one["id"]]
    assert sent["text"] == ""
    page = await fapi.history(bob, channel["id"])
    assert page["messages"][0]["files"] == sent["files"]
    listed = (await fclient.get(f"/api/channels/{channel['id']}/files", headers=bob.headers)).json()
    assert [f["id"] for f in listed["files"]] == sorted([one["id"], two["id"]], reverse=True)
    assert listed["files"][0]["message_id"] == sent["id"]
    assert await _created_event_files(fclient, bob, cursor) == sent["files"]
    gql = await fclient.post(
        "/graphql",
        headers=bob.headers,
        json={
            "query": "query($c: ID!) { messages(channelId: $c) { files { id name size url } } }",
            "variables": {"c": channel["id"]},
        },
    )
    assert gql.json()["data"]["messages"][0]["files"][1] == {
        "id": one["id"],
        "name": "one.txt",
        "size": 5,
        "url": one["url"],
    }
    # A file is attached once: sending it again is a 404 and writes no message.
    again = await fclient.post(
        "/api/messages",
        headers=ada.headers,
        json={"channel_id": channel["id"], "text": "again", "file_ids": [one["id"]]},
    )
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "file_not_found"
    assert len((await fapi.history(ada, channel["id"]))["messages"]) == 1


async def _created_event_files(
    client: httpx.AsyncClient, user: MadeUser, since: str
) -> list[dict[str, object]]:
    """The files of the first message.created event after `since` (delivery waits for
    older transactions to finish, so it may take a few reads)."""
    for _ in range(100):
        r = await client.get("/api/sync/changes", headers=user.headers, params={"since": since})
        assert r.status_code == 200, r.text
        for event in r.json()["events"]:
            if event["type"] == "message.created":
                files: list[dict[str, object]] = event["data"]["files"]
                return files
        await asyncio.sleep(0.05)
    raise AssertionError("no message.created event")


async def test_who_may_fetch_a_file(
    fclient: httpx.AsyncClient, fusers: UserFactory, fapi: Api
) -> None:
    ada, bob, eve = await fusers(), await fusers(), await fusers()
    private = await fapi.create_channel(ada, "secret", type_="private", members=(bob,))
    record = await uploaded(fclient, ada, b"plans", "plans.txt")
    # Before it is attached, only its uploader sees it.
    assert (await fetch(fclient, ada, record["url"])).status_code == 200
    assert (await fclient.get(record["url"], headers=bob.headers)).status_code == 404
    # Attaching someone else's upload is a 404 and sends nothing.
    stolen = await fclient.post(
        "/api/messages",
        headers=eve.headers,
        json={"channel_id": private["id"], "text": "mine", "file_ids": [record["id"]]},
    )
    assert stolen.status_code == 404
    message = await fapi.send(ada, private["id"], "see attached", file_ids=[record["id"]])
    assert (await fetch(fclient, bob, record["url"])).status_code == 200
    for url in (record["url"], f"/api/channels/{private['id']}/files"):
        r = await fclient.get(url, headers=eve.headers)
        assert r.status_code == 404, url
        assert r.json()["error"]["code"] in ("file_not_found", "channel_not_found")
    # A former member loses it with the channel.
    r = await fclient.delete(f"/api/channels/{private['id']}/members/{bob.id}", headers=ada.headers)
    assert r.status_code in (200, 204), r.text
    assert (await fclient.get(record["url"], headers=bob.headers)).status_code == 404
    # A deleted message hides its files from everyone, its author too.
    r = await fclient.delete(f"/api/messages/{message['id']}", headers=ada.headers)
    assert r.status_code in (200, 204), r.text
    assert (await fclient.get(record["url"], headers=ada.headers)).status_code == 404
    page = await fapi.history(ada, private["id"])
    assert page["messages"][0]["files"] == []


async def test_hard_delete_and_stale_uploads_remove_objects(
    fclient: httpx.AsyncClient,
    fusers: UserFactory,
    fapi: Api,
    files_app: FastAPI,
    engine: AsyncEngine,
) -> None:
    admin = await fusers("admin")
    channel = await fapi.create_channel(admin, "tmp")
    kept = await uploaded(fclient, admin, png(20, 20), "kept.png")
    stale = await uploaded(fclient, admin, b"never sent", "stale.txt")
    message = await fapi.send(admin, channel["id"], "pic", file_ids=[kept["id"]])
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE nchat_files SET created_at = now() - interval '25 hours' WHERE id = :i"
            ),
            {"i": uuid.UUID(stale["id"])},
        )
    r = await fclient.delete(
        f"/api/messages/{message['id']}", headers=admin.headers, params={"hard": "true"}
    )
    assert r.status_code in (200, 204), r.text
    assert len(await object_keys(files_app)) == 4  # queued, not yet removed
    await housekeeping.run_once(engine, files_app.state.settings, storage_of(files_app))
    assert await object_keys(files_app) == []
    assert await file_rows(engine) == 0
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM nchat_file_deletions")) == 0


async def test_an_object_lost_from_the_store_is_404_not_500(
    fclient: httpx.AsyncClient, fusers: UserFactory, files_app: FastAPI
) -> None:
    ada = await fusers()
    record = await uploaded(fclient, ada, b"soon gone", "gone.txt")
    await storage_of(files_app).delete(record["id"])
    r = await fclient.get(record["url"], headers=ada.headers)
    if storage_of(files_app).name == "s3":
        assert r.status_code == 302  # the store itself answers 404 at the presigned URL
        async with httpx.AsyncClient() as outside:
            assert (await outside.get(r.headers["location"])).status_code == 404
    else:
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "file_not_found"
