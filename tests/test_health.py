from __future__ import annotations

import httpx

from nchat import __version__


async def test_health_reports_version_and_database(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": __version__, "database": "ok"}


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/health/live")).json() == {"status": "ok"}
    r = await client.get("/api/health/ready")
    assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_request_id_is_echoed_or_assigned(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/health/live", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/api/health/live")
    assert len(r.headers["x-request-id"]) == 32


async def test_metrics_in_prometheus_format(client: httpx.AsyncClient) -> None:
    await client.get("/api/health/live")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert 'nchat_http_requests_total{method="GET",route="/api/health/live",status="200"}' in r.text


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    assert "/api/auth/signin" in spec["paths"]
    assert (await client.get("/api/docs")).status_code == 200


async def test_unknown_route_uses_the_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
