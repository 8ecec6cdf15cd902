from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from nchat.auth.deps import CurrentUser
from nchat.db.transaction import Conn
from nchat.search import service
from nchat.search.schemas import FileSearchQuery, FileSearchResults, SearchQuery, SearchResults

router = APIRouter(prefix="/api/search", tags=["search"])


@router.get("/messages")
async def search_messages(
    principal: CurrentUser, conn: Conn, query: Annotated[SearchQuery, Query()]
) -> SearchResults:
    """Messages in the channels the caller can read, newest first or best first. The query
    language is in the README (Search)."""
    return await service.search_messages(conn, principal, query)


@router.get("/files")
async def search_files(
    principal: CurrentUser, conn: Conn, query: Annotated[FileSearchQuery, Query()]
) -> FileSearchResults:
    """Files by name (accents folded) or type, on messages the caller can read."""
    return await service.search_files(conn, principal, query)
