"""Where file contents live: a local directory or an S3-compatible store (`base.Storage`)."""

from __future__ import annotations

from nchat.config import Settings
from nchat.storage.base import STORAGE, Download, Storage, StorageUnavailable, Stored
from nchat.storage.local import LocalStorage
from nchat.storage.s3 import S3Error, S3Storage


def make_storage(settings: Settings) -> Storage:
    """The store the settings name, not yet started."""
    if settings.storage_backend == "local":
        return LocalStorage(settings.files_dir)
    if not settings.s3_bucket:
        raise S3Error("NCHAT_STORAGE_BACKEND=s3 needs NCHAT_S3_BUCKET")
    return S3Storage(
        bucket=settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        prefix=settings.s3_prefix,
        path_style=settings.s3_path_style,
        proxy_downloads=settings.s3_proxy_downloads,
        url_expiry_s=settings.s3_url_expiry_s,
    )


__all__ = [
    "STORAGE",
    "Download",
    "LocalStorage",
    "S3Error",
    "S3Storage",
    "Storage",
    "StorageUnavailable",
    "Stored",
    "make_storage",
]
