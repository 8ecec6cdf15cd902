"""The web client's page at `/` and at its own paths, its files under content-hashed URLs,
and the API docs on the vendored Swagger UI: same-origin only, strict CSP, right caching."""

from __future__ import annotations

import gzip
import re
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from nchat.http_edge.headers import API_POLICY, PAGE_POLICY
from nchat.web.assets import WEB_DIR, load
from nchat.web.routes import IMMUTABLE

REFERENCES = re.compile(r'(?:src|href)="([^"]+)"')
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def policy(r: httpx.Response) -> dict[str, set[str]]:
    directives = [part.split() for part in r.headers["content-security-policy"].split(";")]
    return {name: set(sources) for name, *sources in directives}


def assert_page(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["content-security-policy"] == PAGE_POLICY
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert len(r.headers.get_list("content-security-policy")) == 1


def test_the_page_policy_is_strict() -> None:
    csp = {name: set(sources) for name, *sources in (p.split() for p in PAGE_POLICY.split(";"))}
    assert csp["default-src"] == {"'none'"}
    for directive in ("script-src", "style-src", "connect-src", "font-src", "worker-src"):
        assert csp[directive] == {"'self'"}, directive
    assert csp["img-src"] == {"'self'", "data:", "blob:"}
    assert csp["base-uri"] == {"'none'"}
    assert csp["form-action"] == {"'self'"}
    assert csp["frame-ancestors"] == {"'none'"}
    # No inline code of any kind, no eval, nothing from another host.
    assert not re.search(r"unsafe-|nonce-|sha256-|https?:|\*", PAGE_POLICY)


async def test_the_client_page_is_never_cached_and_loads_only_this_origin(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/")
    assert_page(r)
    urls = REFERENCES.findall(r.text)
    assert urls, "the page loads its script and stylesheet"
    assert all(url.startswith(load().prefix + "/") for url in urls), urls
    # No inline script or style, no style attributes: the policy would block them.
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text) is None
    assert "<style" not in r.text and "style=" not in r.text
    assert '<script type="module" src="' in r.text


async def test_the_page_revalidates_by_etag(client: httpx.AsyncClient) -> None:
    first = await client.get("/")
    etag = first.headers["etag"]
    again = await client.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == "no-cache"
    changed = await client.get("/", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200


async def test_the_client_routes_itself_get_the_page(client: httpx.AsyncClient) -> None:
    index = (await client.get("/")).text
    for path in ("/channels/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "/settings", "/setup/"):
        r = await client.get(path)
        assert_page(r)
        assert r.text == index
    head = await client.head("/channels/general")
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/html; charset=utf-8"


async def test_the_servers_own_paths_stay_json_404s(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/nowhere"),
        ("GET", "/api"),
        ("GET", "/api/channels/x/nowhere"),
        ("GET", "/metrics/nowhere"),
        ("GET", "/graphql/nowhere"),
        ("GET", "/assets/nowhere/app.js"),
        ("GET", "/favicon.ico"),  # a file name, not a page
        ("GET", "/robots.txt"),
        ("POST", "/channels/general"),  # pages are only read
        ("DELETE", "/api/nowhere"),
    ]:
        r = await client.request(method, path)
        assert r.status_code == 404, (method, path, r.status_code)
        assert r.headers["content-type"] == "application/json", path
        error = r.json()["error"]
        assert set(error) == {"code", "message", "details"}
        assert error["code"] == ("asset_not_found" if path.startswith("/assets") else "not_found")
        assert r.headers["content-security-policy"] == API_POLICY.decode()


async def test_every_asset_the_pages_name_is_immutable_with_its_type(
    client: httpx.AsyncClient,
) -> None:
    for page in ("/", "/api/docs"):
        html = (await client.get(page)).text
        for url in REFERENCES.findall(html):
            r = await client.get(url, headers={"Accept-Encoding": "identity"})
            assert r.status_code == 200, url
            assert r.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
            suffix = url[url.rindex(".") :]
            assert r.headers["content-type"] == TYPES[suffix], url
            assert "content-encoding" not in r.headers
            # The bytes of the file its name says, and a strong ETag.
            path = url.removeprefix(load().prefix + "/")
            assert r.content == (WEB_DIR / path).read_bytes()
            assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["etag"])
            # Assets are not pages: nothing may run in them.
            assert r.headers["content-security-policy"] == API_POLICY.decode()
            assert r.headers["x-content-type-options"] == "nosniff"


async def test_modules_import_each_other_by_relative_url_under_one_version(
    client: httpx.AsyncClient,
) -> None:
    """Every module the client's graph reaches resolves under the same hashed prefix."""
    site = load()
    # url -> whether only a dynamic import(...) reaches it (a panel loaded on first use)
    pending, seen = [(f"{site.prefix}/js/app.js", False)], dict[str, bool]()
    while pending:
        url, lazy = pending.pop()
        if url in seen and (lazy or not seen[url]):
            continue
        seen[url] = lazy
        r = await client.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        for call, specifier in re.findall(
            r"""(?:\bfrom|\bimport)\s*(\(?)\s*["']([^"']+)["']""", r.text
        ):
            assert specifier.startswith(("./", "../")), f"{url} imports {specifier!r}"
            pending.append((str(httpx.URL(url).join(specifier)), lazy or bool(call)))
    assert f"{site.prefix}/vendor/preact.js" in seen
    assert f"{site.prefix}/vendor/signals-core.js" in seen
    assert seen[f"{site.prefix}/js/components/search-panel.js"]  # loaded on first opening
    # The page preloads exactly the static graph: all of it at once, and no module nothing
    # uses; what only a dynamic import reaches waits for it.
    page = (await client.get("/")).text
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', page))
    assert preloaded == {url for url, lazy in seen.items() if not lazy}


async def test_the_emoji_list_is_served_with_the_renderers_names(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get(f"{load().prefix}/data/emoji.json", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["cache-control"] == IMMUTABLE
    rows = {row[0]: row[1:] for row in r.json()}
    assert {"+1", "thumbsup"} <= set(rows["\N{THUMBS UP SIGN}"])
    assert "tada" in rows["\N{PARTY POPPER}"]
    # No skin-tone variants: the picker offers each emoji once.
    assert not any("skin_tone" in name for names in rows.values() for name in names)


async def test_compressible_assets_are_gzipped_when_asked(client: httpx.AsyncClient) -> None:
    site = load()
    url = site.url("vendor/swagger-ui/swagger-ui-bundle.js")
    raw = (WEB_DIR / "vendor/swagger-ui/swagger-ui-bundle.js").read_bytes()
    async with client.stream("GET", url, headers={"Accept-Encoding": "gzip, br"}) as r:
        body = b"".join([chunk async for chunk in r.aiter_raw()])
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    # Its own ETag: not the uncompressed file's.
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert r.headers["etag"] != plain.headers["etag"]
    assert r.headers["etag"].endswith('-gzip"')
    again = await client.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    assert int(r.headers["content-length"]) == len(body) < len(raw) // 3
    assert gzip.decompress(body) == raw
    refused = await client.get(url, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    # Images are compressed already.
    png = await client.get(site.url("vendor/swagger-ui/favicon-32x32.png"))
    assert "content-encoding" not in png.headers and "vary" not in png.headers


async def test_an_asset_revalidates_and_an_unknown_one_is_a_json_404(
    client: httpx.AsyncClient,
) -> None:
    site = load()
    url = site.url("js/app.js")
    etag = (await client.get(url)).headers["etag"]
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304
    for missing in (
        f"{site.prefix}/js/nowhere.js",
        f"/assets/{'0' * 16}/js/app.js",  # another version's URL
        f"{site.prefix}/index.html",  # templates and Python are not assets
        f"{site.prefix}/routes.py",
        f"{site.prefix}/vendor/vendor.lock.json",
        f"{site.prefix}/../../config.py",
    ):
        r = await client.get(missing)
        assert r.status_code == 404, missing
        assert r.json()["error"]["code"] in {"asset_not_found", "not_found"}
        assert "cache-control" not in r.headers


async def test_the_api_docs_load_only_this_origin(client: httpx.AsyncClient, app: FastAPI) -> None:
    r = await client.get("/api/docs")
    assert_page(r)
    urls = REFERENCES.findall(r.text)
    assert any(url.endswith("/swagger-ui-bundle.js") for url in urls)
    assert any(url.endswith("/swagger-ui.css") for url in urls)
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/assets/"), url
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text) is None, "no inline script"
    csp = policy(r)
    for sources in csp.values():
        assert not any("." in source or ":" in source.rstrip(":") for source in sources), csp
    # The page starts Swagger UI on the app's own document.
    assert f'data-openapi-url="{app.openapi_url}"' in r.text
    # FastAPI's own docs (CDN scripts, an inline script) and its OAuth2 redirect are gone.
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200  # a client path now
    assert "swagger" not in (await client.get("/docs/oauth2-redirect")).text.lower()


async def test_pages_and_assets_are_left_out_of_the_api_document(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/api/openapi.json")).json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith(("/assets", "/api/docs"))]
