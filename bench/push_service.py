"""A local Web Push service, for the tests and the `notify` benchmark: what a browser vendor's
push service checks, and a browser's decryption, in one server the test starts.

It verifies the VAPID JWT (RFC 8292: ES256 by the key in `k`, `aud` this origin, `exp` at
most 24 hours ahead, a `sub`), the headers RFC 8030 asks for (TTL, aes128gcm), and decrypts
the body (RFC 8291) with the subscription's private key, so a test reads the plaintext the
server sent. It can be told to answer one subscription 410 (gone) or 429 (retry)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscription:
    """A browser's side: the key pair and auth secret it made, and where it listens."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64(raw)

    def json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": b64(self.auth)}}


@dataclass
class Received:
    subscription_id: str
    payload: dict[str, Any]
    headers: dict[str, str]
    vapid_key: str
    # time.monotonic() when it arrived
    at: float = field(default_factory=time.monotonic)


@dataclass
class PushService:
    url: str
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    # subscription id -> (status, how many times; None: always)
    answers: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self) -> Subscription:
        sub_id = uuid.uuid4().hex
        sub = Subscription(
            sub_id,
            f"{self.url}/push/{sub_id}",
            ec.generate_private_key(ec.SECP256R1()),
            os.urandom(16),
        )
        self.subscriptions[sub_id] = sub
        return sub

    def answer(self, sub: Subscription, status: int, times: int | None = None) -> None:
        self.answers[sub.id] = (status, times)

    def for_sub(self, sub: Subscription) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.subscription_id == sub.id]

    async def wait_for(self, count: int, within_s: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            await asyncio.sleep(0.05)
        with self.lock:
            raise AssertionError(
                f"{len(self.received)} pushes arrived, not {count}; refused: {self.refused}"
            )

    async def handle(self, request: Request) -> Response:
        sub_id = request.path_params["sub_id"]
        body = await request.body()
        problem = self._check(request, sub_id)
        if problem is not None:
            with self.lock:
                self.refused.append((sub_id, problem[0], problem[1]))
            return Response(problem[1], status_code=problem[0])
        scripted = self.answers.get(sub_id)
        if scripted is not None:
            status, times = scripted
            if times is None or times > 0:
                if times is not None:
                    self.answers[sub_id] = (status, times - 1)
                headers = {"Retry-After": "1"} if status == 429 else {}
                return Response(status_code=status, headers=headers)
        sub = self.subscriptions[sub_id]
        try:
            plain = http_ece.decrypt(
                body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm"
            )
        except Exception as exc:
            with self.lock:
                self.refused.append((sub_id, 400, f"cannot decrypt: {exc}"))
            return Response("cannot decrypt", status_code=400)
        auth = request.headers["authorization"]
        with self.lock:
            self.received.append(
                Received(
                    sub_id,
                    json.loads(plain),
                    dict(request.headers),
                    auth.split("k=", 1)[1],
                )
            )
        return Response(status_code=201, headers={"Location": f"{self.url}/m/{uuid.uuid4()}"})

    def _check(self, request: Request, sub_id: str) -> tuple[int, str] | None:
        if sub_id not in self.subscriptions:
            return 404, "no such subscription"
        headers = request.headers
        if headers.get("content-encoding") != "aes128gcm":
            return 400, "Content-Encoding must be aes128gcm"
        if not headers.get("ttl", "").isdigit():
            return 400, "TTL is required"
        topic = headers.get("topic")
        if topic is not None and (
            len(topic) > 32 or not topic.replace("-", "").replace("_", "").isalnum()
        ):
            return 400, "Topic must be at most 32 base64url characters"
        return self._check_vapid(headers.get("authorization", ""))

    def _check_vapid(self, header: str) -> tuple[int, str] | None:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            return 401, "VAPID authorization required"
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        try:
            point = unb64(parts["k"])
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            claims = jwt.decode(
                parts["t"],
                key,
                algorithms=["ES256"],
                audience=self.url,
                options={"require": ["exp", "aud", "sub"]},
            )
        except (KeyError, ValueError, jwt.PyJWTError) as exc:
            return 403, f"VAPID token refused: {exc}"
        if claims["exp"] > time.time() + 24 * 3600:
            return 403, "exp more than 24 hours ahead"
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return 403, "sub must be a mailto: or https: URL"
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running() -> Iterator[PushService]:
    """The service on a free local port, in a thread of this process."""
    port = _free_port()
    service = PushService(f"http://127.0.0.1:{port}")
    app = Starlette(routes=[Route("/push/{sub_id}", service.handle, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the push service did not start")
        time.sleep(0.01)
    try:
        yield service
    finally:
        server.should_exit = True
        thread.join(timeout=10)
