"""The signed-upload pipeline shared by capsules and agents (nothing stored until it passes).

In order: media type (415), size ``SOMAGENT_ARTIFACT_MAX_BYTES`` (413), JSON
(400), DSSE envelope shape, payload type, signature against the tenant's
registered keys (422 ``signature-invalid`` with ``reason``), then the document
(JSON or YAML by payload type; 422 ``invalid-artifact`` with ``errors``) and its
RFC 8785 digest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from somagent.api.bodies import read_body
from somagent.api.call import Call
from somagent.api.problems import Problem
from somagent.artifacts import canonical, registry, signing
from somagent.artifacts.exceptions import InvalidArtifact, SignatureRejected


@dataclass(frozen=True, slots=True)
class Intake:
    """A verified upload: the raw envelope bytes, signer key, document and its digest."""

    raw: bytes
    key_id: str
    payload_size_bytes: int
    document: dict[str, Any]
    sha256: str


def _json_body(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                            and media.endswith("+json"))


def invalid(exc: InvalidArtifact) -> Problem:
    return Problem("invalid-artifact", str(exc), errors=exc.errors)


def rejected(exc: SignatureRejected) -> Problem:
    return Problem("signature-invalid", str(exc), reason=exc.reason)


async def read_signed(request: Request, call: Call, tenant: str, media_prefix: str) -> Intake:
    """The verified document of a DSSE envelope body (see the module doc)."""
    content_type = request.headers.get("content-type", "")
    if not _json_body(content_type):
        raise Problem("unsupported-media-type", f"Content-Type {content_type or '(none)'!r} "
                      "is not application/json (a DSSE envelope)")
    raw = await read_body(request, call.ctx.settings.artifact_max_bytes)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem("malformed-json", f"body is not valid UTF-8 JSON: {exc}") from exc
    try:
        envelope = signing.parse_envelope(body)
        if not envelope.payload_type.startswith(media_prefix + "+"):
            raise SignatureRejected(
                "payload-type", f"payloadType {envelope.payload_type!r} is not "
                f"{media_prefix}+json or {media_prefix}+yaml")
        kind = canonical.media_kind(envelope.payload_type)
        verified = signing.verify(envelope, await registry.tenant_keys(call.ctx.pg, tenant))
    except SignatureRejected as exc:
        raise rejected(exc) from exc
    except InvalidArtifact as exc:
        raise rejected(SignatureRejected("payload-type", str(exc))) from exc
    try:
        document = canonical.parse(verified.payload, kind)
        digest = canonical.digest(document)
    except InvalidArtifact as exc:
        raise invalid(exc) from exc
    return Intake(raw, verified.key_id, len(verified.payload), document, digest)
