"""Typed access to what the app's lifespan makes (the engine, the bus, the hub, caches...).

Each object is stored under a `Key` declared beside its type, in the package that owns it,
so a reader gets the declared type back and a layer never has to import the one that
wires the app together (aiohttp's `AppKey`, for Starlette). `app.state` is touched only
here: `put` in `app.py`, `get` in the typed providers."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

T = TypeVar("T")


class Key(Generic[T]):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"


def put(app: Starlette, key: Key[T], value: T) -> None:
    setattr(app.state, key.name, value)


def get(app: Starlette, key: Key[T]) -> T:
    try:
        return cast(T, getattr(app.state, key.name))
    except AttributeError:
        raise LookupError(f"{key!r} is not set: the app's lifespan has not run") from None


def find(app: Starlette, key: Key[T], default: T) -> T:
    """The value, or `default` where the app never set one (optional overrides)."""
    return cast(T, getattr(app.state, key.name, default))


def of(connection: HTTPConnection, key: Key[T]) -> T:
    """`get` for the app serving a request or a WebSocket."""
    app: Any = connection.app
    return get(app, key)
