"""GraphQL's bounds (decision 0024): each test asks for something the limit exists to refuse."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets
from graphql import get_introspection_query

from nchat.app import create_app
from tests.conftest import make_settings
from tests.fixtures.factories import MadeUser, UserFactory
from tests.graphql.test_graphql import SEED_QUERY, gql
from tests.messaging.helpers import Api
from tests.realtime.conftest import start_live, stop_live

MESSAGE_FIELDS = """id channelId text threadId replyCount lastReplyAt participants pinned
    clientId createdAt editedAt deletedAt user { id name username }
    reactions { emoji count me } mentions { userIds channel here }"""


@asynccontextmanager
async def app_client(
    database_url: str, tmp_path: Path, **overrides: object
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app of its own, built with other settings."""
    app = create_app(make_settings(database_url, tmp_path, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def code_of(body: dict[str, Any]) -> str:
    assert body["data"] is None, body
    code: str = body["errors"][0]["extensions"]["code"]
    assert body["errors"][0]["extensions"]["status"] == 400
    return code


def aliased(count: int, field: str) -> str:
    return "{ " + " ".join(f"a{i}: {field}" for i in range(count)) + " }"


async def channel_with_messages(api: Api, user: MadeUser, count: int, text: str = "hi") -> str:
    channel = await api.create_channel(user, "limits")
    for i in range(count):
        await api.send(user, channel["id"], f"{text} {i}")
    return str(channel["id"])


async def test_the_seed_query_and_a_full_page_pass_the_default_limits(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    cid = await channel_with_messages(api, ada, 3)
    seed = await gql(client, ada, SEED_QUERY, channelId=cid)
    assert "errors" not in seed
    assert len(seed["data"]["messages"]) == 3
    full = await gql(
        client,
        ada,
        f"query($c: ID!) {{ messages(channelId: $c, limit: 200) {{ {MESSAGE_FIELDS} }} }}",
        c=cid,
    )
    assert "errors" not in full
    assert len(full["data"]["messages"]) == 3


async def test_a_thousand_aliases_are_refused_before_execution(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    cid = await channel_with_messages(api, ada, 1)
    attack = aliased(1000, f'messages(channelId: "{cid}", limit: 200) {{ id text user {{ id }} }}')
    body = await gql(client, ada, attack)
    assert code_of(body) == "query_too_large"


async def test_more_aliases_than_the_limit_are_refused(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada = await make_user()
    allowed = await gql(client, ada, aliased(30, "me { id }"))
    assert len(allowed["data"]) == 30
    refused = await gql(client, ada, aliased(31, "me { id }"))
    assert code_of(refused) == "too_many_aliases"
    assert refused["errors"][0]["extensions"]["details"] == {"limit": 30}


async def test_a_query_deeper_than_the_limit_is_refused(
    database_url: str, tmp_path: Path, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    cid = await channel_with_messages(api, ada, 1)
    async with app_client(database_url, tmp_path, graphql_max_depth=3) as client:
        three = await gql(client, ada, SEED_QUERY, channelId=cid)
        assert three["data"]["messages"][0]["user"]["id"] == str(ada.id)
        four = await gql(client, ada, '{ thread(messageId: "x") { root { user { id } } } }')
        assert code_of(four) == "query_too_deep"


async def test_a_costly_query_is_refused_and_a_normal_one_passes(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    cid = await channel_with_messages(api, ada, 1)
    page = f'messages(channelId: "{cid}", limit: 200) {{ id user {{ id }} }}'
    # 200 messages and their 200 authors per alias: 12 fit in 5,000 objects, 13 do not.
    fits = await gql(client, ada, aliased(12, page))
    assert "errors" not in fits
    assert len(fits["data"]) == 12
    costly = await gql(client, ada, aliased(13, page))
    assert code_of(costly) == "query_too_costly"
    # A page size in a variable counts the same (and 200.0 is an Int to GraphQL).
    by_variable = await gql(
        client,
        ada,
        "query($n: Int!) "
        + aliased(13, f'messages(channelId: "{cid}", limit: $n) {{ id user {{ id }} }}'),
        n=200.0,
    )
    assert code_of(by_variable) == "query_too_costly"
    # Nested lists multiply: a thread's 200 replies with ten reactions each (estimated: the
    # list takes no page size) and their authors is 2,401 objects; three such threads are not.
    root = (await api.history(ada, cid))["messages"][0]["id"]
    replies = "replies { reactions { emoji } user { id } }"
    thread = f'thread(messageId: "{root}", limit: 200) {{ {replies} }}'
    assert "errors" not in await gql(client, ada, "{ " + thread + " }")
    assert code_of(await gql(client, ada, aliased(3, thread))) == "query_too_costly"


async def test_introspection_is_off_in_production_unless_enabled_and_on_in_development(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    query = "{ __schema { queryType { name } } }"
    refused = await gql(client, None, query)
    assert code_of(refused) == "introspection_disabled"
    typename = await gql(client, None, "{ __typename }")
    assert typename["data"] == {"__typename": "Query"}
    for overrides in ({"environment": "development"}, {"graphql_introspection": True}):
        async with app_client(database_url, tmp_path, **overrides) as other:
            allowed = await gql(other, None, query)
            assert allowed["data"]["__schema"]["queryType"]["name"] == "Query", overrides
            # The query GraphiQL and code generators send stays within the limits.
            full = await gql(other, None, get_introspection_query(descriptions=True))
            assert "errors" not in full


async def test_a_response_beyond_the_size_limit_is_replaced_by_an_error(
    database_url: str, tmp_path: Path, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    cid = await channel_with_messages(api, ada, 8, text="x" * 300)
    async with app_client(database_url, tmp_path, graphql_max_response_bytes=1024) as client:
        small = await gql(client, ada, "{ me { id } }")
        assert small["data"]["me"]["id"] == str(ada.id)
        r = await client.post(
            "/graphql",
            headers=ada.headers,
            json={
                "query": "query($c: ID!) { messages(channelId: $c) { text } }",
                "variables": {"c": cid},
            },
        )
        assert len(r.content) < 1024
        assert code_of(r.json()) == "response_too_large"
        assert r.json()["errors"][0]["extensions"]["details"] == {"limit": 1024}


async def test_deep_and_malformed_bodies_are_a_400_in_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    deep = "[" * 5000 + "]" * 5000
    cases = {
        deep: "json_too_deep",
        '{"query": "{ me { id } }", "variables": {"a": ' + deep + "}}": "json_too_deep",
        b'{"query": "\xff"}': "invalid_json",
        '{"query": "{ me { id } }", "variables": {"a": ' + "9" * 5000 + "}}": "invalid_json",
        "": "invalid_json",
        "null": "invalid_body",
        '"query"': "invalid_body",
    }
    headers = {"content-type": "application/json"}
    for body, code in cases.items():
        r = await client.post("/graphql", content=body, headers=headers)
        assert r.status_code == 400, (body[:40], r.text)
        assert r.json()["error"]["code"] == code, body[:40]
    r = await client.get("/graphql", params={"query": "{ me { id } }", "variables": deep})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "json_too_deep"


async def test_a_batch_is_refused_with_a_400(client: httpx.AsyncClient) -> None:
    batch = [{"query": "{ __typename }"}, {"query": "{ __typename }"}]
    r = await client.post("/graphql", json=batch)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "batching_not_supported"


async def test_several_operations_need_an_operation_name(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada = await make_user()
    document = "query A { me { id } } query B { me { username } }"
    r = await client.post("/graphql", headers=ada.headers, json={"query": document})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "operation_name_required"
    named = await client.post(
        "/graphql", headers=ada.headers, json={"query": document, "operationName": "B"}
    )
    assert named.json() == {"data": {"me": {"username": ada.username}}}


async def test_deeply_nested_documents_are_refused_without_a_crash(
    client: httpx.AsyncClient,
) -> None:
    selections = "{" + " me {" * 1000 + " id" + " }" * 1000 + " }"
    values = "{ messages(channelId: " + "[" * 1000 + '"x"' + "]" * 1000 + ") { id } }"
    for document in (selections, values):
        body = await gql(client, None, document)
        assert code_of(body) == "query_too_deep"


async def test_repeated_fields_and_fragment_spreads_are_bounded(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    # Either makes the spec's overlapping-fields check quadratic; both are valid GraphQL.
    ada = await make_user()
    repeated = await gql(client, ada, "{ " + "me { id } " * 11 + "}")
    assert code_of(repeated) == "query_too_large"
    assert "selected more than 10 times" in repeated["errors"][0]["message"]
    # Empty selection sets are allowed: fragments that add no field at all.
    fragments = " ".join(f"fragment F{i} on Query {{ }}" for i in range(101))
    spreads = "{ __typename " + " ".join(f"...F{i}" for i in range(101)) + " } " + fragments
    refused = await gql(client, ada, spreads)
    assert code_of(refused) == "query_too_large"
    assert "more than 100 times" in refused["errors"][0]["message"]


async def test_sockets_refuse_what_is_not_a_json_object_and_apply_the_limits(
    database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    ada = await make_user()
    live = await start_live(database_url, tmp_path)
    url = f"ws://127.0.0.1:{live.port}/graphql"
    protocol = [websockets.Subprotocol("graphql-transport-ws")]
    try:
        for message in ("[]", "[" * 5000 + "]" * 5000, "5"):
            async with websockets.connect(url, subprotocols=protocol) as ws:
                await ws.send(message)
                async with asyncio.timeout(10):
                    await ws.wait_closed()
                assert ws.close_code == 4400
        async with websockets.connect(url, subprotocols=protocol) as ws:
            init = {"type": "connection_init", "payload": {"token": ada.access_token}}
            await ws.send(json.dumps(init))
            async with asyncio.timeout(10):
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                # Valid (repeated fields merge), but past a limit.
                query = "subscription { events { " + "id " * 11 + "} }"
                await ws.send(
                    json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})
                )
                error = json.loads(await ws.recv())
        assert error["type"] == "error"
        assert error["payload"][0]["extensions"]["code"] == "query_too_large"
    finally:
        await stop_live(live)
