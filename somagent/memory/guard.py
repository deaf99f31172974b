"""The remember-guard: decides whether a remember request becomes a memory (pure).

:meth:`RememberGuard.decide` turns a :class:`RememberRequest` into either
:class:`Accepted` or :class:`Rejected`. It performs no I/O itself: the caller
hands it the tenant's known text hashes as a ``Container[str]`` (a ``set`` or an
adapter that asks the store) and, when near-duplicate detection is on, a callable
returning the best cosine similarity of the redacted text against the tenant's
memories.

Guarantees:

* **PII never passes in clear**: the accepted text is the output of
  :func:`somagent.memory.pii.redact` with the guard's key; the hash is taken over
  the redacted text, so the stored hash cannot be used to guess a clear value.
* **Deterministic ids**: ``memory_id`` is
  :func:`somagent.contract.ids.memory_id` of (tenant, text_sha256, capsule_id): the
  same text remembered twice by a tenant in the same capsule (or in none) is one
  memory, so a redelivered write is an idempotent upsert; different tenants or
  capsules never share an id. Every decision carries the id, rejections included,
  so whoever appended the request can wait for it (see docs/memory.md).
* **Normalisation** for hashing: Unicode NFKC, case-folded, runs of white space
  collapsed to one space, stripped. "Paris  is nice" and "paris is nice" are exact
  duplicates; the stored text keeps its original form.
* **Duplicates** are judged within the same tenant and capsule (the id's scope).
* Checks run in this order and the first failing one is the reason:
  ``too_large`` (raw text, checked before redaction, whose worst case is about
  0.4 s for 8 KiB of separated digits), ``invalid_field``, ``empty``, ``too_large``
  (redacted text), ``duplicate``, ``near_duplicate``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Final, Literal

from somagent.contract import ids
from somagent.memory import pii

ReasonCode = Literal["invalid_field", "empty", "too_large", "duplicate", "near_duplicate"]
REASON_CODES: Final[tuple[str, ...]] = (
    "invalid_field",
    "empty",
    "too_large",
    "duplicate",
    "near_duplicate",
)

_WHITESPACE = re.compile(r"\s+")
_SOURCE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
_MAX_ID_CHARS: Final = 128


@dataclass(frozen=True, slots=True)
class RememberRequest:
    """What a client or the Remember step asked to remember.

    ``created_at_us`` is microseconds since the Unix epoch (UTC); ``request_id`` is
    the event id of the ``MemoryRememberRequested`` event (used for read-your-writes
    and to recognise a redelivered request); ``reason`` says why to remember it;
    ``pii_kinds`` names personal data a producer already redacted upstream.
    """

    tenant: str
    text: str
    created_at_us: int
    source: str = "api"
    capsule_id: str | None = None
    trace_id: str = ""
    request_id: str = ""
    reason: str = ""
    pii_kinds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Accepted:
    """The request becomes a memory with this id and this (redacted) text."""

    memory_id: str
    text: str
    text_sha256: str
    pii_kinds: tuple[str, ...]
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """The request is refused; ``reason_code`` is one of :data:`REASON_CODES`.

    ``memory_id``/``text_sha256`` are what the memory would have been ("" when the
    tenant or text is not a string, or the text is over the size limit before
    redaction, which is refused without redacting it).
    """

    reason_code: ReasonCode
    detail: str
    memory_id: str = ""
    text_sha256: str = ""


Decision = Accepted | Rejected


def normalise(text: str) -> str:
    """Text as compared for duplicates: NFKC, case-folded, white space collapsed, stripped."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def text_sha256(text: str) -> str:
    """Hex SHA-256 of the normalised text (call it on redacted text only)."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def memory_id_for(tenant: str, sha256_hex: str, capsule_id: str | None = None) -> str:
    """Deterministic memory id (a UUID string, also the Qdrant point id)."""
    return ids.memory_id(tenant, sha256_hex, capsule_id)


class RememberGuard:
    """Size limits, PII redaction and duplicate detection for remember requests.

    Args:
        pii_key: HMAC key (>= 16 bytes) for :func:`somagent.memory.pii.redact`.
        max_text_bytes: UTF-8 size limit, applied to the original and the redacted text.
        near_duplicate_cosine: reject when the best cosine similarity against the
            tenant's memories is at least this value; ``None`` (default) turns the
            check off. The value depends on the embedder: with the default
            :class:`~somagent.memory.embedder.HrrEmbedder` 0.97 catches re-worded
            punctuation and a changed word in a long sentence while distinct facts
            about the same subject stay well below it.
    """

    def __init__(
        self,
        pii_key: bytes,
        *,
        max_text_bytes: int = 8192,
        near_duplicate_cosine: float | None = None,
    ) -> None:
        pii.check_key(pii_key)
        if max_text_bytes < 1:
            raise ValueError(f"max_text_bytes must be >= 1, got {max_text_bytes}")
        if near_duplicate_cosine is not None and not 0.0 < near_duplicate_cosine <= 1.0:
            raise ValueError(
                f"near_duplicate_cosine must be in (0, 1], got {near_duplicate_cosine}"
            )
        self._key = bytes(pii_key)
        self.max_text_bytes = max_text_bytes
        self.near_duplicate_cosine = near_duplicate_cosine

    def _invalid_field(self, request: RememberRequest) -> str | None:
        if not isinstance(request.tenant, str) or not 0 < len(request.tenant) <= _MAX_ID_CHARS:
            return f"tenant must be 1..{_MAX_ID_CHARS} characters"
        if not isinstance(request.text, str):
            return f"text must be a string for tenant {request.tenant!r}"
        if not isinstance(request.source, str) or not _SOURCE.match(request.source):
            return f"source must match {_SOURCE.pattern} for tenant {request.tenant!r}"
        capsule = request.capsule_id
        if capsule is not None and (not isinstance(capsule, str) or not 0 < len(capsule) <= 128):
            return f"capsule_id must be 1..{_MAX_ID_CHARS} characters for tenant {request.tenant!r}"
        if not isinstance(request.created_at_us, int) or request.created_at_us < 0:
            return f"created_at_us must be a non-negative integer for tenant {request.tenant!r}"
        return None

    def redact(self, text: str) -> pii.Redaction:
        """Redact ``text`` with this guard's key (what :meth:`decide` stores)."""
        return pii.redact(text, self._key)

    def decide(
        self,
        request: RememberRequest,
        existing_hashes: Container[str] = frozenset(),
        nearest_cosine: Callable[[str], float | None] | None = None,
    ) -> Decision:
        """Accept or reject ``request``.

        Args:
            existing_hashes: text hashes the tenant already has in the request's
                capsule (``in`` is the only use).
            nearest_cosine: given the redacted text, the best cosine similarity against
                the tenant's memories in that capsule (None when there are none); only
                called when the near-duplicate check is on and every other check passed.
        """
        if not isinstance(request.tenant, str) or not isinstance(request.text, str):
            return Rejected("invalid_field", "tenant and text must be strings")
        raw_size = len(request.text.encode("utf-8"))
        if raw_size > self.max_text_bytes:
            # Refused before redaction, whose cost grows with the text: no memory id.
            return Rejected(
                "too_large",
                f"text is {raw_size} bytes, limit {self.max_text_bytes}, "
                f"for tenant {request.tenant!r}",
            )
        redaction = self.redact(request.text)
        digest = text_sha256(redaction.text)
        tenant = request.tenant
        memory_id = memory_id_for(tenant, digest, request.capsule_id)

        def reject(code: ReasonCode, detail: str) -> Rejected:
            return Rejected(code, detail, memory_id=memory_id, text_sha256=digest)

        problem = self._invalid_field(request)
        if problem is not None:
            return reject("invalid_field", problem)
        if not normalise(request.text):
            return reject("empty", f"text is empty after normalisation for tenant {tenant!r}")
        size = len(redaction.text.encode("utf-8"))
        if size > self.max_text_bytes:
            return reject(
                "too_large",
                f"redacted text is {size} bytes, limit {self.max_text_bytes}, "
                f"for tenant {tenant!r}",
            )
        if digest in existing_hashes:
            return reject("duplicate", f"tenant {tenant!r} already remembers {memory_id}")
        if self.near_duplicate_cosine is not None and nearest_cosine is not None:
            best = nearest_cosine(redaction.text)
            if best is not None and best >= self.near_duplicate_cosine:
                return reject(
                    "near_duplicate",
                    f"cosine {best:.4f} >= {self.near_duplicate_cosine} against an existing "
                    f"memory of tenant {tenant!r}",
                )
        return Accepted(
            memory_id=memory_id,
            text=redaction.text,
            text_sha256=digest,
            pii_kinds=tuple(dict.fromkeys((*request.pii_kinds, *redaction.kinds))),
            size_bytes=len(redaction.text.encode("utf-8")),
        )
