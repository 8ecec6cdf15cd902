"""The configuration keys nchat itself reads, with the types it reads them as. A section stays
free-form JSON (clients keep their own keys there); only these keys are checked, strictly, so
`"signup_open": "yes"` or `"maxMessages": "abc"` is a 422 at the PATCH instead of an open
sign-up or a failing sync later."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

MAX_OFFLINE_MESSAGES = 100_000


class _Keys(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Branding(_Keys):
    app_name: str = Field(default="nchat", min_length=1, max_length=80)


class Features(_Keys):
    signup_open: bool = False
    file_uploads: bool = True


class Files(_Keys):
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1, le=2**40)


class OfflineCache(_Keys):
    enabled: bool = True
    maxMessages: int = Field(default=1000, ge=0, le=MAX_OFFLINE_MESSAGES)
    maxMediaSize: int = Field(default=500 * 1024 * 1024, ge=0, le=2**40)


class BackgroundSync(_Keys):
    enabled: bool = True
    interval: int = Field(default=15, ge=1, le=24 * 60)  # minutes


class Analytics(_Keys):
    enabled: bool = False
    firebaseConfig: dict[str, Any] | None = None


class Mobile(_Keys):
    offlineCache: OfflineCache = Field(default_factory=OfflineCache)
    backgroundSync: BackgroundSync = Field(default_factory=BackgroundSync)
    analytics: Analytics = Field(default_factory=Analytics)


def _keys_of(shape: type[_Keys]) -> AfterValidator:
    def check(value: dict[str, Any]) -> dict[str, Any]:
        try:
            shape.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"{where}: {first['msg']}") from None
        return value  # as sent: the section is merged, not replaced by the shape's defaults

    return AfterValidator(check)


JsonObject = dict[str, Any]
BrandingSection = Annotated[JsonObject, _keys_of(Branding)]
FeaturesSection = Annotated[JsonObject, _keys_of(Features)]
FilesSection = Annotated[JsonObject, _keys_of(Files)]
MobileSection = Annotated[JsonObject, _keys_of(Mobile)]


def offline_messages(mobile: JsonObject) -> int:
    """How many messages a device keeps offline (0: no offline cache). Read leniently: rows
    written before the keys were checked fall back to the defaults."""
    try:
        cache = Mobile.model_validate(mobile).offlineCache
    except ValidationError:
        cache = OfflineCache()
    return cache.maxMessages if cache.enabled else 0
