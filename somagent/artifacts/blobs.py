"""The artifact object store: content-addressed blobs in S3 or Postgres.

A blob is the signed DSSE envelope exactly as uploaded, stored under
``sha256/<hex of its bytes>``, so anyone can fetch it and verify the signature
again. Writes are idempotent (same key, same bytes) and reads check the digest
(:class:`BlobStoreError` if the bytes do not match their key).

* :class:`S3Blobs` – an S3-compatible server through boto3: the local Versity S3
  gateway that ``somagent up`` runs (credentials ``somagent`` /
  ``keys/s3.token``), or ``SOMAGENT_S3_URL=http(s)://ACCESS:SECRET@host:port/bucket``.
  The bucket is created on first use.
* :class:`PostgresBlobs` – table ``artifact_blobs`` (``SOMAGENT_ARTIFACT_STORE=postgres``).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import asyncpg
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from somagent.artifacts.exceptions import BlobStoreError
from somagent.config import Settings
from somagent.credentials import local_token

LOCAL_ACCESS_KEY = "somagent"
S3_TOKEN = "s3"


def blob_key(data: bytes) -> str:
    return "sha256/" + hashlib.sha256(data).hexdigest()


def _checked(key: str, data: bytes) -> bytes:
    if blob_key(data) != key:
        raise BlobStoreError(f"blob {key} holds bytes with another digest ({blob_key(data)})")
    return data


class BlobStore(Protocol):
    """Where artifact bytes live; both methods are idempotent/pure reads."""

    name: str

    async def put(self, data: bytes) -> str: ...

    async def get(self, key: str) -> bytes: ...


def s3_credentials(settings: Settings) -> tuple[str, str, str]:
    """(access key, secret, bucket) for the configured S3 server."""
    if settings.s3_url:
        parts = urlsplit(settings.s3_url)
        bucket = parts.path.strip("/") or settings.s3_bucket
        return unquote(parts.username or ""), unquote(parts.password or ""), bucket
    return LOCAL_ACCESS_KEY, local_token(settings.home_dir, S3_TOKEN), settings.s3_bucket


def s3_client(settings: Settings, timeout_s: float = 10.0) -> Any:
    """A boto3 S3 client for the configured server (path-style addressing)."""
    access, secret, _ = s3_credentials(settings)
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"}, connect_timeout=timeout_s, read_timeout=timeout_s,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )


def ensure_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` unless it exists."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        try:
            client.create_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou", "BucketAlreadyExists"
            ):
                raise


class S3Blobs:
    """Blobs in an S3-compatible server (boto3 calls run in worker threads)."""

    name = "s3"

    def __init__(self, settings: Settings) -> None:
        self.client = s3_client(settings)
        self.bucket = s3_credentials(settings)[2]
        self.endpoint = settings.s3_endpoint
        self._ready = False

    def where(self, key: str) -> str:
        return f"{self.endpoint}/{self.bucket}/{key}"

    def _ensure(self) -> None:
        if not self._ready:
            ensure_bucket(self.client, self.bucket)
            self._ready = True

    def _put(self, key: str, data: bytes) -> None:
        self._ensure()
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data,
                               ContentType="application/vnd.dsse.envelope.v1+json")

    def _get(self, key: str) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=key)
        data: bytes = response["Body"].read()
        return data

    async def put(self, data: bytes) -> str:
        key = blob_key(data)
        try:
            await asyncio.to_thread(self._put, key, data)
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(f"S3 {self.where(key)}: put failed: {exc}") from exc
        return key

    async def get(self, key: str) -> bytes:
        try:
            data = await asyncio.to_thread(self._get, key)
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreError(f"S3 {self.where(key)}: get failed: {exc}") from exc
        return _checked(key, data)


class PostgresBlobs:
    """Blobs in the ``artifact_blobs`` table (content-addressed, insert-once)."""

    name = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put(self, data: bytes) -> str:
        key = blob_key(data)
        await self.pool.execute(
            "INSERT INTO artifact_blobs (blob_key, body, size_bytes) VALUES ($1, $2, $3) "
            "ON CONFLICT (blob_key) DO NOTHING",
            key, data, len(data),
        )
        return key

    async def get(self, key: str) -> bytes:
        data = await self.pool.fetchval("SELECT body FROM artifact_blobs WHERE blob_key = $1", key)
        if data is None:
            raise BlobStoreError(f"postgres artifact_blobs has no blob {key}")
        return _checked(key, bytes(data))


def open_blobs(settings: Settings, pool: asyncpg.Pool) -> BlobStore:
    """The store ``SOMAGENT_ARTIFACT_STORE`` selects."""
    return PostgresBlobs(pool) if settings.artifact_store == "postgres" else S3Blobs(settings)
