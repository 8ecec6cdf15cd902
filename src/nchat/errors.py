"""The one error tree and envelope: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any


class NchatError(Exception):
    status_code = 400
    code = "bad_request"
    message = "Bad request"
    # Writes made before the error still commit (a revoked session on token reuse, a counted
    # failed login); everything else rolls back so bad input changes nothing.
    keep_writes = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        keep_writes: bool = False,
    ) -> None:
        self.keep_writes = keep_writes
        self.message = message or self.message
        self.code = code or self.code
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(NchatError):
    pass


class ValidationFailed(NchatError):
    status_code = 422
    code = "validation_error"
    message = "The request is not valid"


class Unauthorized(NchatError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication required"


class Forbidden(NchatError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this"


class NotFound(NchatError):
    status_code = 404
    code = "not_found"
    message = "Not found"


class Conflict(NchatError):
    status_code = 409
    code = "conflict"
    message = "Conflict"


class TooManyRequests(NchatError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests; retry later"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(
            message,
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class ServiceUnavailable(NchatError):
    status_code = 503
    code = "unavailable"
    message = "Service unavailable"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}
