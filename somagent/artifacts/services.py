"""The artifact services one edge app uses, opened lazily on its first artifact request.

Kept on the app's :class:`~somagent.api.context.EdgeContext` (``ctx.artifacts``) so
the edge's start-up stays as it is; the blob store is the only new client
(boto3 for S3, or the edge's Postgres pool).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from somagent.api.context import EdgeContext
from somagent.artifacts.blobs import BlobStore, open_blobs
from somagent.artifacts.pricing import capsule_read_picocents


@dataclass
class ArtifactServices:
    blobs: BlobStore
    capsule_read_picocents: int
    ranking_cache: dict[str, Any]


def services(ctx: EdgeContext) -> ArtifactServices:
    found = getattr(ctx, "artifacts", None)
    if found is None:
        found = ArtifactServices(
            blobs=open_blobs(ctx.settings, ctx.pg),
            capsule_read_picocents=capsule_read_picocents(),
            ranking_cache={},
        )
        ctx.artifacts = found  # type: ignore[attr-defined]
    return found
