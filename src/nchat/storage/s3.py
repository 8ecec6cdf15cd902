"""Files in any S3-compatible store (AWS S3, MinIO, Ceph, Garage...) through aioboto3.

Path-style addressing, SigV4, and checksums only where S3 requires them: what every
S3-compatible server accepts, presigned URLs and range reads included. Uploads of up to one
part go up in one PUT; larger ones as a multipart upload, one part in memory at a time,
aborted when the stream fails (the object appears whole or not at all). Downloads are
presigned URLs valid for minutes, unless the server is set to proxy them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from nchat.storage.base import CHUNK_BYTES, Download, Stored

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
else:
    S3Client = Any

# S3's smallest part but the last is 5 MiB; 8 MiB is what its own tools use.
PART_BYTES = 8 * 1024 * 1024
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Error(Exception):
    """The store refused or could not be reached: said at start, with what to check."""


class S3Storage:
    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        prefix: str = "",
        path_style: bool = True,
        proxy_downloads: bool = False,
        url_expiry_s: int = 300,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.proxy_downloads = proxy_downloads
        self.url_expiry_s = url_expiry_s
        self._session = aioboto3.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        self._endpoint_url = endpoint_url
        self._config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "auto"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        self._stack = AsyncExitStack()
        self._client: S3Client | None = None

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("the S3 store is not started")
        return self._client

    async def start(self) -> None:
        self._client = await self._stack.enter_async_context(
            self._session.client("s3", endpoint_url=self._endpoint_url, config=self._config)
        )
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            await self.stop()
            code = exc.response.get("Error", {}).get("Code", "")
            raise S3Error(
                f"S3 bucket {self.bucket!r} at {self._endpoint_url or 'AWS'}: {code or exc} "
                "(check NCHAT_S3_BUCKET and the access keys)"
            ) from exc
        except (BotoCoreError, OSError) as exc:
            await self.stop()
            raise S3Error(
                f"S3 endpoint {self._endpoint_url or 'AWS'} unreachable: {exc} "
                "(check NCHAT_S3_ENDPOINT_URL)"
            ) from exc

    async def stop(self) -> None:
        self._client = None
        await self._stack.aclose()

    async def check(self) -> None:
        await self.client.head_bucket(Bucket=self.bucket)

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    async def write(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> int:
        part = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                part += chunk
                size += len(chunk)
                if len(part) >= PART_BYTES:
                    if upload_id is None:
                        created = await self.client.create_multipart_upload(
                            Bucket=self.bucket, Key=self._key(key), ContentType=content_type
                        )
                        upload_id = created["UploadId"]
                    parts.append(await self._part(key, upload_id, len(parts) + 1, bytes(part)))
                    part.clear()
            if upload_id is None:
                await self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    Body=bytes(part),
                    ContentType=content_type,
                )
                return size
            if part:
                parts.append(await self._part(key, upload_id, len(parts) + 1, bytes(part)))
            await self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._key(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        except BaseException:
            if upload_id is not None:
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self._key(key), UploadId=upload_id
                )
            raise
        return size

    async def _part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        sent = await self.client.upload_part(
            Bucket=self.bucket, Key=self._key(key), UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": sent["ETag"]}

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if start == 0 and end is None:
            got = await self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        else:
            last = "" if end is None else str(end - 1)
            got = await self.client.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{last}"
            )
        body = got["Body"]
        try:
            async for chunk in body.iter_chunks(CHUNK_BYTES):
                yield chunk
        finally:
            body.close()

    async def stat(self, key: str) -> Stored | None:
        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _MISSING:
                return None
            raise
        return Stored(key, head["ContentLength"])

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    async def objects(self) -> AsyncIterator[Stored]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        async for page in pages:
            for item in page.get("Contents", []):
                yield Stored(item["Key"].removeprefix(self.prefix), item["Size"])

    async def download(
        self, key: str, *, name: str, content_type: str, attachment: bool
    ) -> Download:
        if self.proxy_downloads:
            return Download()
        disposition = "attachment" if attachment else "inline"
        url = await self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
                "ResponseCacheControl": "private, max-age=300",
            },
            ExpiresIn=self.url_expiry_s,
        )
        return Download(url=url)
