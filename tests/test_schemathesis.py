"""Schemathesis over the whole API: every operation of the OpenAPI document and every GraphQL
field, with generated input (valid and invalid), signed in as the owner and pointed at real
rows. No answer may be a 5xx, and every answer must match what the document says.

Schemathesis calls the ASGI app synchronously, on an event loop thread of its own, and runs
the app's lifespan there; the suite's session loop and its `app` fixture stay out of it. So
this module gets an app, and a database, of its own. Bounded for CI: few examples per
operation, a fixed seed, no example database (`deterministic`: the same cases every run)."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.graphql import nodes
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import unsupported_method

from nchat.app import create_app
from nchat.db import migrate
from tests.conftest import make_settings
from tests.fixtures.databases import create_database, drop_database, with_database

# A failing case's report may be a large repr; Hypothesis warns about it, and the suite's
# `filterwarnings = error` would turn that warning into the failure shown instead.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)
# A deeper run than CI's: NCHAT_FUZZ_EXAMPLES=200 NCHAT_FUZZ_SEED=<any> pytest <this file>.
MAX_EXAMPLES = int(os.environ.get("NCHAT_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("NCHAT_FUZZ_SEED", "20261204"))
PASSWORD = "fuzzing is a good habit"
# Sessions for the cases of operations that end their caller's (then "spent" tokens: 401s).
SPARE_SESSIONS = 32
# Operations that end what they touch get rows of their own, made per case, so the others
# keep meeting live ones: (method, path) -> the path parameters to replace.
DESTRUCTIVE = {
    ("DELETE", "/api/messages/{message_id}"): ("message_id",),
    ("PATCH", "/api/channels/{channel_id}"): ("channel_id",),
    ("DELETE", "/api/channels/{channel_id}"): ("channel_id",),
    ("POST", "/api/channels/{channel_id}/leave"): ("channel_id",),
    ("DELETE", "/api/users/{user_id}"): ("user_id",),
    ("DELETE", "/api/admin/users/{user_id}"): ("user_id",),
    ("POST", "/api/admin/users/{user_id}/deactivate"): ("user_id",),
    ("POST", "/api/admin/users/{user_id}/revoke-sessions"): ("user_id",),
    ("POST", "/api/admin/users/{user_id}/reset-password"): ("user_id",),
    ("DELETE", "/api/admin/channels/{channel_id}"): ("channel_id",),
    ("POST", "/api/admin/channels/{channel_id}/archive"): ("channel_id",),
    ("POST", "/api/admin/channels/{channel_id}/owner"): ("channel_id",),
    ("POST", "/api/admin/channels/{channel_id}/visibility"): ("channel_id",),
}
# Every other check runs. positive_data_acceptance expects a 2xx for whatever the JSON
# Schema allows, but the document cannot say all the rules a value must meet (an emoji
# without spaces, text that is not blank, a known time zone): those refusals are 422s.
NOT_CHECKED = ("positive_data_acceptance",)
# Ids in request bodies, by field name -> the seeded row they are pointed at.
BODY_IDS = {
    "channel_id": "channel_id",
    "message_id": "message_id",
    "thread_id": "message_id",
    "user_ids": "user_id",
    "member_ids": "user_id",
}
# Literal paths beside a {parameter} of the same depth: another method on /api/users/me is
# routed to /api/users/{user_id} and refused as a malformed id (422), not with a 405.
OVERLAPPING = {"/api/users/me", "/api/channels/direct"}
# Operations that end the caller's session: they get a session of their own.
ENDS_SESSION = {("POST", "/api/auth/signout")}


@dataclass
class Seeded:
    """The rows every case is pointed at, and the owner's credentials."""

    app: FastAPI
    client: requests.Session
    owner_token: str
    ids: dict[str, str]
    spare_tokens: list[str] = field(default_factory=list)
    serial: Iterator[int] = field(default_factory=itertools.count)

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.owner_token}"}
        r = self.client.request(method, url, headers=headers, **kwargs)
        assert r.status_code < 300, f"{method} {url}: {r.status_code} {r.text}"
        return r.json()

    def fresh(self, name: str) -> str:
        """A new row of the kind the path parameter `name` names."""
        n = next(self.serial)
        if name == "message_id":
            body = {"channel_id": self.ids["channel_id"], "text": f"to go {n}"}
            return str(self.call("POST", "/api/messages", json=body)["id"])
        if name == "channel_id":
            body = {"name": f"fuzz-{n}", "member_ids": [self.ids["user_id"]]}
            return str(self.call("POST", "/api/channels", json=body)["id"])
        body = {"email": f"u{n}@example.com", "username": f"u{n}", "password": PASSWORD}
        return str(self.call("POST", "/api/users", json=body)["id"])


@pytest.fixture(scope="module")
def seeded(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    name = f"nchat_fuzz_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    create_database(server_url, name)
    url = with_database(server_url, name)
    migrate.upgrade(url)
    settings = make_settings(
        url,
        tmp_path_factory.mktemp("fuzz-data"),
        graphql_introspection=True,
        access_token_ttl_s=3600,
    )
    app = create_app(settings)
    try:
        with asgi.get_client(app) as client:  # starts the app's lifespan, kept until teardown
            yield _seed(app, client)
    finally:
        asgi.shutdown_lifespans()
        drop_database(server_url, name)


def _seed(app: FastAPI, client: requests.Session) -> Seeded:
    owner = {"email": "owner@example.com", "username": "owner", "password": PASSWORD}
    r = client.post("/api/setup", json={"owner": {**owner, "display_name": "Owner"}})
    assert r.status_code == 201, r.text
    seeded = Seeded(app=app, client=client, owner_token=r.json()["access_token"], ids={})
    seeded.ids["user_id"] = seeded.fresh("user_id")
    seeded.ids["channel_id"] = seeded.fresh("channel_id")
    message = seeded.fresh("message_id")
    seeded.ids["message_id"] = message
    reply = {"channel_id": seeded.ids["channel_id"], "text": "a reply", "thread_id": message}
    seeded.call("POST", "/api/messages", json=reply)
    for _ in range(SPARE_SESSIONS):
        login = {"login": "owner", "password": PASSWORD}
        r = client.post("/api/auth/signin", json=login)
        assert r.status_code == 200, r.text
        seeded.spare_tokens.append(r.json()["access_token"])
    # A session to end that is not the one every case uses.
    sessions = seeded.call("GET", "/api/auth/sessions")["sessions"]
    seeded.ids["session_id"] = next(s["id"] for s in sessions if not s["current"])
    return seeded


def _configure(schema: Any, seeded: Seeded) -> Any:
    schema.config.update(headers={"Authorization": f"Bearer {seeded.owner_token}"})
    schema.config.generation.update(
        max_examples=MAX_EXAMPLES, deterministic=True, database="none", no_shrink=False
    )
    schema.config.seed = SEED
    schema.config.checks.update(excluded_check_names=list(NOT_CHECKED))
    return schema


@pytest.fixture(scope="module")
def openapi_schema(seeded: Seeded) -> Any:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", seeded.app)
    return _configure(schema, seeded)


@pytest.fixture(scope="module")
def graphql_schema(seeded: Seeded) -> Any:
    # IDs are drawn from the real rows (and one that is not an id), so resolvers go past
    # "no such channel" into the services.
    ids = [*seeded.ids.values(), "not-an-id", str(uuid.UUID(int=0))]
    schemathesis.graphql.scalar("ID", st.sampled_from(ids).map(nodes.String))
    headers = {"Authorization": f"Bearer {seeded.owner_token}"}
    schema = schemathesis.graphql.from_asgi("/graphql", seeded.app, headers=headers)
    return _configure(schema, seeded)


openapi = schemathesis.pytest.from_fixture("openapi_schema")
graphql = schemathesis.pytest.from_fixture("graphql_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis' lazy schemas label each operation's subtest through the node's private
    `_nodeid`, which pytest 9 no longer has; they work once it is there."""
    node: Any = request.node
    if not hasattr(node, "_nodeid"):
        node._nodeid = node.nodeid


def _point_at_seeded_rows(case: Any, seeded: Seeded) -> None:
    """Valid ids the generator made up become the seeded rows' (fresh ones where the
    operation ends them); ids that are not ids stay, to be refused."""
    key = (case.method.upper(), case.path)
    replaced = DESTRUCTIVE.get(key, ())
    for name, value in list((case.path_parameters or {}).items()):
        if name not in seeded.ids or not _is_uuid(value):
            continue
        case.path_parameters[name] = seeded.fresh(name) if name in replaced else seeded.ids[name]
    if isinstance(case.body, dict):
        for name, value in list(case.body.items()):
            row = BODY_IDS.get(name)
            if row is not None and _is_uuid(value):
                case.body[name] = seeded.ids[row]
            elif row is not None and isinstance(value, list):
                # Same length and the same non-ids: a list made invalid on purpose stays so.
                case.body[name] = [seeded.ids[row] if _is_uuid(v) else v for v in value]
    owner = f"Bearer {seeded.owner_token}"
    if key in ENDS_SESSION and (case.headers or {}).get("Authorization") == owner:
        spare = seeded.spare_tokens.pop() if seeded.spare_tokens else "spent"
        case.headers["Authorization"] = f"Bearer {spare}"


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@openapi.parametrize()
def test_openapi(case: Any, seeded: Seeded) -> None:
    _point_at_seeded_rows(case, seeded)
    excluded = [unsupported_method] if case.path in OVERLAPPING else []
    case.call_and_validate(excluded_checks=excluded)
    if (case.method, case.path) == ("PUT", "/api/admin/maintenance"):
        # Maintenance mode left on would answer every later case's write with a 503.
        seeded.call("DELETE", "/api/admin/maintenance")


@graphql.parametrize()
def test_graphql(case: Any) -> None:
    # Schemathesis tells a GraphQL client error from a server error by Apollo's codes (such
    # as BAD_USER_INPUT); nchat's errors carry the REST code and its HTTP status instead, so
    # that check is made here from the status.
    response = case.call_and_validate(excluded_checks=[not_a_server_error])
    assert response.status_code < 500, response.text
    for error in response.json().get("errors") or []:
        status = (error.get("extensions") or {}).get("status")
        # No status: graphql-core refused the document before any resolver ran.
        failed = status >= 500 if status is not None else "path" in error
        assert not failed, error


def test_every_read_after_the_run(seeded: Seeded) -> None:
    """Runs after the fuzzing: whatever state the generated writes left (configuration,
    channels, messages, memberships), every read still answers without a 5xx."""
    spec = seeded.client.get("/api/openapi.json").json()
    headers = {"Authorization": f"Bearer {seeded.owner_token}"}
    for path, item in spec["paths"].items():
        if "get" not in item:
            continue
        url = path
        for name, value in seeded.ids.items():
            url = url.replace("{" + name + "}", value)
        r = seeded.client.get(url, headers=headers)
        assert r.status_code < 500, f"GET {url}: {r.status_code} {r.text[:300]}"


def test_the_owner_session_outlived_the_run(seeded: Seeded) -> None:
    """Runs after the fuzzing (same module, defined last): the session every case used was
    never ended, so the cases were answered as the owner, not refused as anonymous."""
    assert seeded.call("GET", "/api/users/me")["username"] == "owner"
