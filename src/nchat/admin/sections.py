"""The app configuration as one typed store: a model per section, every key with its type and
range, unknown keys refused. A change is validated whole, after merging, so an invalid value
anywhere is a 422 naming its path (`features.signup_open`) and nothing is written.

Stored rows are read leniently: a key written before it was checked, or one nchat no longer
knows, falls back to its default instead of failing every read (decision 0051)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from nchat.storable import value_problem

MAX_OFFLINE_MESSAGES = 100_000
# Sections nchat's first run writes (the owner, when setup finished): never edited, restored
# or imported, since another installation's owner id means nothing here.
SETUP_SECTIONS = ("setup", "owner")
EDITABLE_SECTIONS = (
    "branding",
    "theme",
    "features",
    "integrations",
    "auth_providers",
    "mobile",
    "files",
)
SECTIONS = (*SETUP_SECTIONS, *EDITABLE_SECTIONS)

JsonObject = dict[str, Any]
Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$", description="#rrggbb")]
FileId = Annotated[
    str,
    Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
    AfterValidator(str.lower),  # one spelling, as file ids are compared as text
]
FirebaseKeys = Annotated[dict[str, Annotated[str, Field(max_length=512)]], Field(max_length=32)]


class _Keys(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Setup(_Keys):
    completed: bool = False
    completed_at: str | None = Field(default=None, max_length=64)


class Owner(_Keys):
    user_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)


class Branding(_Keys):
    app_name: str = Field(default="nchat", min_length=1, max_length=80)
    # An uploaded image (checked to exist and be an image when set).
    logo_file_id: FileId | None = None


class Theme(_Keys):
    # The default for people who chose none in their settings.
    mode: Literal["system", "light", "dark"] = "system"
    accent: Colour = "#2f6fed"


class Features(_Keys):
    signup_open: bool = False
    file_uploads: bool = True
    search: bool = True
    push: bool = True
    email: bool = True


class Integrations(_Keys):
    """No integration has settings yet: the section is kept, empty, so it has one shape."""


class PasswordProvider(_Keys):
    # The only way to sign in today: it cannot be turned off.
    enabled: Literal[True] = True


class AuthProviders(_Keys):
    password: PasswordProvider = Field(default_factory=PasswordProvider)


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
    # The Firebase web config a mobile app is built with: a few short strings.
    firebaseConfig: FirebaseKeys | None = None


class Mobile(_Keys):
    offlineCache: OfflineCache = Field(default_factory=OfflineCache)
    backgroundSync: BackgroundSync = Field(default_factory=BackgroundSync)
    analytics: Analytics = Field(default_factory=Analytics)


class AppConfig(_Keys):
    setup: Setup = Field(default_factory=Setup)
    owner: Owner = Field(default_factory=Owner)
    branding: Branding = Field(default_factory=Branding)
    theme: Theme = Field(default_factory=Theme)
    features: Features = Field(default_factory=Features)
    integrations: Integrations = Field(default_factory=Integrations)
    auth_providers: AuthProviders = Field(default_factory=AuthProviders)
    mobile: Mobile = Field(default_factory=Mobile)
    files: Files = Field(default_factory=Files)


class PublicConfig(BaseModel):
    """What anyone may read, signed in or not (GET /api/config, the config.updated event)."""

    app_name: str
    logo_file_id: str | None
    signup_open: bool
    setup_completed: bool
    theme: JsonObject
    file_uploads: bool
    max_upload_bytes: int
    search: bool
    push: bool
    email: bool
    auth_providers: list[str]


class ConfigInvalid(Exception):
    """A configuration that does not fit the shape; `errors` name each path."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors))


def errors_of(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as the error envelope lists them (no `input`: it may be a secret)."""
    return [
        {"loc": [str(p) for p in e["loc"]], "msg": str(e["msg"]), "type": str(e["type"])}
        for e in exc.errors()
    ]


def merge(base: JsonObject, override: JsonObject) -> JsonObject:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate(config: JsonObject) -> AppConfig:
    """The whole configuration, strictly; raises ConfigInvalid naming every bad path."""
    problem = value_problem(config)  # an import or a shell value: not checked on the way in
    if problem is not None:
        raise ConfigInvalid([{"loc": [], "msg": problem, "type": "unstorable"}])
    try:
        return AppConfig.model_validate(config)
    except ValidationError as exc:
        raise ConfigInvalid(errors_of(exc)) from None


def _drop(value: JsonObject, loc: tuple[int | str, ...]) -> bool:
    """Remove the key at `loc`; False when there is nothing to remove."""
    *parents, last = loc
    node: Any = value
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    return False


def read(stored: JsonObject) -> AppConfig:
    """Stored sections as typed values: whatever does not fit takes its default."""
    value: JsonObject = {s: v for s, v in stored.items() if s in SECTIONS and isinstance(v, dict)}
    value = merge({}, value)  # a deep copy: keys are dropped from it below
    for _ in range(64):
        try:
            return AppConfig.model_validate(value)
        except ValidationError as exc:
            if not any(_drop(value, tuple(e["loc"])) for e in exc.errors()):
                break
    return AppConfig()


def dump(config: AppConfig, sections: tuple[str, ...] = SECTIONS) -> dict[str, JsonObject]:
    every: dict[str, JsonObject] = config.model_dump(mode="json")
    return {s: every[s] for s in sections}


def changes(before: JsonObject, after: JsonObject, path: str = "") -> dict[str, JsonObject]:
    """The keys whose values differ, by dotted path: {"features.search": {before, after}}."""
    found: dict[str, JsonObject] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        where = f"{path}.{key}" if path else key
        if isinstance(old, dict) and isinstance(new, dict):
            found.update(changes(old, new, where))
        elif old != new:
            found[where] = {"before": old, "after": new}
    return found


def public_view(config: AppConfig) -> PublicConfig:
    return PublicConfig(
        app_name=config.branding.app_name,
        logo_file_id=config.branding.logo_file_id,
        signup_open=config.features.signup_open,
        setup_completed=config.setup.completed,
        theme=config.theme.model_dump(mode="json"),
        file_uploads=config.features.file_uploads,
        max_upload_bytes=config.files.max_upload_bytes,
        search=config.features.search,
        push=config.features.push,
        email=config.features.email,
        auth_providers=[name for name, p in config.auth_providers if p.enabled],
    )


def offline_messages(mobile: JsonObject) -> int:
    """How many messages a device keeps offline (0: no offline cache)."""
    cache = read({"mobile": mobile}).mobile.offlineCache
    return cache.maxMessages if cache.enabled else 0


# The sections as PATCH takes them: partial objects, checked whole after merging.
BrandingSection = JsonObject
FeaturesSection = JsonObject
FilesSection = JsonObject
MobileSection = JsonObject
