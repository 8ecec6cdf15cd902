"""The web client at `/` (and at every path it routes itself), its files under `/assets/`,
its service worker at `/sw.js`, and the API docs at `/api/docs` on the vendored Swagger UI.

Pages are never cached (`no-cache`: revalidated by ETag on every load), so a new version
is picked up at once; the files they name are immutable (see `assets`). The pages carry
`PAGE_POLICY`: files of this origin only, no inline script or style.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from nchat.errors import NotFound
from nchat.http_edge.headers import PAGE_POLICY
from nchat.web.assets import ASSETS_PATH, Page, Site

DOCS_PATH = "/api/docs"
# The service worker (web push): at the root, so its scope may be the whole client.
WORKER_PATH = "/sw.js"
HTML = "text/html; charset=utf-8"
PAGE_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
# First path segments the server answers itself: never a page of the client, so an unknown
# path under them stays a 404 in the error envelope.
SERVER_SEGMENTS = frozenset({"api", "graphql", "metrics", ASSETS_PATH.strip("/")})
READ_METHODS = frozenset({"GET", "HEAD"})


def make_router(site: Site) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.api_route("/", methods=["GET", "HEAD"])
    async def index(request: Request) -> Response:
        return page_response(site.index, request)

    @router.api_route(DOCS_PATH, methods=["GET", "HEAD"])
    async def docs(request: Request) -> Response:
        return page_response(site.docs, request)

    @router.api_route(WORKER_PATH, methods=["GET", "HEAD"])
    async def worker(request: Request) -> Response:
        """Revalidated on every check, like a page, so a new version reaches browsers at
        once; it runs under the API's policy (it loads and fetches nothing)."""
        found = site.worker
        headers = {"Cache-Control": PAGE_CACHE, "ETag": found.etag}
        if _matches(request, found.etag):
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.content_type, headers=headers)

    @router.api_route(ASSETS_PATH + "/{version}/{path:path}", methods=["GET", "HEAD"])
    async def asset(version: str, path: str, request: Request) -> Response:
        found = site.get(version, path)
        if found is None:
            raise NotFound("No such file", code="asset_not_found")
        gzip = found.compressible and _accepts_gzip(request)
        # Each coding is a representation of its own, with an ETag of its own.
        etag = found.gzip_etag if gzip else found.etag
        headers = {"Cache-Control": IMMUTABLE, "ETag": etag}
        if found.compressible:
            headers["Vary"] = "Accept-Encoding"
        if _matches(request, etag):
            return Response(status_code=304, headers=headers)
        body = found.body
        if gzip:
            gzipped = found.gzipped
            body = gzipped if gzipped is not None else await run_in_threadpool(found.compress)
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=found.content_type, headers=headers)

    return router


def client_routes(site: Site, not_found: ASGIApp) -> ASGIApp:
    """The router's default, for paths no route matched: a GET of a path the client routes
    itself (a reload of /channels/..., a link to one) gets the client's page; anything
    else goes on to `not_found`, the JSON 404."""

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in READ_METHODS
            and is_client_path(scope["path"])
        ):
            await page_response(site.index, Request(scope))(scope, receive, send)
            return
        await not_found(scope, receive, send)

    return default


def is_client_path(path: str) -> bool:
    """Whether `path` may be one of the client's own routes: not under a path the server
    answers, and not naming a file (`/favicon.ico`, `/robots.txt`: those are 404s, not
    pages)."""
    segments = path.split("/")
    return segments[1] not in SERVER_SEGMENTS and "." not in segments[-1]


def page_response(page: Page, request: Request) -> Response:
    headers = {
        "Cache-Control": PAGE_CACHE,
        "ETag": page.etag,
        "Content-Security-Policy": PAGE_POLICY,
    }
    if _matches(request, page.etag):
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type=HTML, headers=headers)


def _matches(request: Request, etag: str) -> bool:
    """If-None-Match names `etag` (weakly compared, as RFC 9110 says for it) or is `*`."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=").strip()
            return quality == "" or _positive(quality)
    return False


def _positive(quality: str) -> bool:
    try:
        return float(quality) > 0
    except ValueError:
        return False
