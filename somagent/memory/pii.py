"""Find personal data in free text and replace it by keyed hashes (pure, no I/O).

Every detected value becomes ``pii:<hex16>``: the first 16 hex digits (64 bits) of
HMAC-SHA256(key, kind + ":" + canonical value). Guarantees:

* **No clear value survives** for the kinds detected: e-mail addresses, phone
  numbers (E.164 ``+``/``00`` prefixed, NANP ``(555) 123-4567``, national formats
  starting with ``0`` and at least 9 digits), IBANs (ISO 13616 mod-97 checked),
  payment-card numbers (13-19 digits, Luhn checked), US social security numbers
  and IPv4 addresses.
* **Deterministic per key**: the same value (after canonicalisation: e-mail
  lower-cased, numbers reduced to digits) always yields the same token, so
  duplicate detection and joins keep working without the clear value. Without
  the key the token cannot be reversed by guessing (unlike a plain hash).
* **One pass, idempotent**: kinds are matched in priority order (e-mail, IBAN,
  card, SSN, IPv4, phone), each on the text with earlier matches masked out, then
  everything is replaced at once; existing ``pii:<hex16>`` tokens are left alone, so
  ``redact(redact(t)) == redact(t)`` and a token's own hex digits are never
  re-scanned as a number.

Detection is pattern based and errs on the side of redacting: an 8-digit date
such as ``2024-01-15`` is not a phone number, but ``030 1234567`` is.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Final

from somagent.memory.exceptions import InvalidPiiKey

MIN_KEY_BYTES: Final = 16
TOKEN_PREFIX: Final = "pii:"
TOKEN_HEX_CHARS: Final = 16

# Local part: RFC 5322 "atext" and dots; domain: LDH labels, alphabetic or IDN TLD.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_EMAIL = re.compile(
    rf"(?<![{_ATEXT}.])[{_ATEXT}][{_ATEXT}.]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|(?i:xn--)[A-Za-z0-9-]{1,59})(?![\w-])"
)
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}(?![\w])")
_CARD = re.compile(r"(?<![\w+])\d(?:[ -]?\d){12,18}(?![\w])")
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![\w.])"
)
_TOKEN = re.compile(r"pii:[0-9a-f]{16}(?![0-9a-f])")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00|\()?\d[\d ().\-/]{5,22}\d(?![\w])")
_NANP = re.compile(r"^\(?\d{3}\)?[ .\-]?\d{3}[ .\-]\d{4}$")
_DATE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")


@dataclass(frozen=True, slots=True)
class Redaction:
    """Result of :func:`redact`.

    ``kinds`` lists each detected kind once, in order of first appearance;
    ``count`` is the number of values replaced.
    """

    text: str
    kinds: tuple[str, ...]
    count: int


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn checksum."""
    if not digits.isdigit():
        return False
    total = 0
    for index, ch in enumerate(reversed(digits)):
        value = int(ch)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(value: str) -> bool:
    """True when ``value`` (spaces allowed) is an ISO 13616 IBAN with a valid mod-97 check."""
    compact = value.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = "".join(str(int(ch, 36)) for ch in rearranged)
    except ValueError:
        return False
    return int(number) % 97 == 1


def _phone_canonical(raw: str) -> str | None:
    """Canonical phone value, or None when ``raw`` does not look like a phone number."""
    digits = _digits(raw)
    stripped = raw.strip()
    if stripped.startswith("+") or stripped.startswith("00"):
        international = digits[2:] if stripped.startswith("00") else digits
        if 7 <= len(international) <= 15 and not international.startswith("0"):
            return "+" + international
        return None
    if _DATE.match(stripped) or not 7 <= len(digits) <= 15:
        return None
    if _NANP.match(stripped):
        return digits
    if stripped.startswith("0") and len(digits) >= 9 and not stripped.startswith("00"):
        return digits
    return None


def _canonical(kind: str, raw: str) -> str | None:
    """The value that is hashed for ``raw``, or None when the candidate is rejected."""
    if kind == "email":
        return raw.lower()
    if kind == "iban":
        return raw.replace(" ", "").upper() if iban_valid(raw) else None
    if kind == "card":
        digits = _digits(raw)
        return digits if 13 <= len(digits) <= 19 and luhn_valid(digits) else None
    if kind == "ssn":
        return _digits(raw)
    if kind == "ipv4":
        return raw
    return _phone_canonical(raw)


_PATTERNS: Final = (
    ("email", _EMAIL),
    ("iban", _IBAN),
    ("card", _CARD),
    ("ssn", _SSN),
    ("ipv4", _IPV4),
    ("phone", _PHONE),
)


_GROUPED: Final = frozenset({"iban", "card", "phone"})
_SEPARATOR = re.compile(r"[ ().\-/]+")


def _drop_last_group(raw: str) -> str:
    """``raw`` without its last separator-delimited group (and the separator)."""
    separators = list(_SEPARATOR.finditer(raw, 1))
    return raw[: separators[-1].start()] if separators else raw[:0]


@dataclass(frozen=True, slots=True)
class _Match:
    start: int
    end: int
    kind: str
    canonical: str


def _overlaps(start: int, end: int, spans: list[_Match], starts: list[int]) -> bool:
    """Whether [start, end) overlaps one of ``spans`` (disjoint, sorted; ``starts`` theirs)."""
    index = bisect.bisect_right(starts, start)
    if index > 0 and spans[index - 1].end > start:
        return True
    return index < len(spans) and spans[index].start < end


def _mask(text: str, spans: list[_Match]) -> str:
    """``text`` with each span overwritten by ``x`` (a word character, like a token)."""
    chars = list(text)
    for span in spans:
        chars[span.start : span.end] = "x" * (span.end - span.start)
    return "".join(chars)


def _find(text: str) -> list[_Match]:
    """Non-overlapping matches, kinds taken in priority order on a progressively masked text.

    Existing tokens come first and are kept as they are, so redaction is idempotent
    even when a token's 16 hex digits happen to look like a card number. Masking what
    a higher-priority kind took (instead of discarding overlapping candidates) makes
    the result the same on the redacted text as on the original.
    """
    chosen = [_Match(m.start(), m.end(), "token", m.group(0)) for m in _TOKEN.finditer(text)]
    masked = _mask(text, chosen)
    for kind, pattern in _PATTERNS:
        starts = [span.start for span in chosen]
        taken: list[_Match] = []
        pos = 0
        while (match := pattern.search(masked, pos)) is not None:
            raw = match.group(0)
            canonical = _canonical(kind, raw)
            # A grouped number may be followed by an unrelated word or number that the
            # greedy pattern swallowed: retry with fewer trailing groups.
            while canonical is None and kind in _GROUPED and _SEPARATOR.search(raw[1:]):
                raw = _drop_last_group(raw)
                canonical = _canonical(kind, raw)
            end = match.start() + len(raw)
            if canonical is None or _overlaps(match.start(), end, chosen, starts):
                pos = match.start() + 1
                continue
            taken.append(_Match(match.start(), end, kind, canonical))
            pos = end
        masked = _mask(masked, taken)
        chosen = sorted(chosen + taken, key=lambda m: m.start)
    return chosen


def pii_token(key: bytes, kind: str, canonical: str) -> str:
    """The replacement token for one canonical value: ``pii:`` + 16 hex digits of HMAC-SHA256."""
    digest = hmac.new(key, f"{kind}:{canonical}".encode(), hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + digest[:TOKEN_HEX_CHARS]


def check_key(key: bytes) -> None:
    """Raise :class:`InvalidPiiKey` unless ``key`` is bytes of at least 16 bytes."""
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise InvalidPiiKey(
            f"memory PII key must be at least {MIN_KEY_BYTES} bytes, got "
            f"{len(key) if isinstance(key, bytes | bytearray) else type(key).__name__}"
        )


def redact(text: str, key: bytes) -> Redaction:
    """Replace every detected personal value in ``text`` by its keyed-hash token.

    Raises:
        InvalidPiiKey: ``key`` is shorter than 16 bytes.
    """
    check_key(key)
    matches = [m for m in _find(text) if m.kind != "token"]
    if not matches:
        return Redaction(text=text, kinds=(), count=0)
    parts: list[str] = []
    kinds: list[str] = []
    cursor = 0
    for match in matches:
        parts.append(text[cursor : match.start])
        parts.append(pii_token(bytes(key), match.kind, match.canonical))
        if match.kind not in kinds:
            kinds.append(match.kind)
        cursor = match.end
    parts.append(text[cursor:])
    return Redaction(text="".join(parts), kinds=tuple(kinds), count=len(matches))


def detect(text: str) -> tuple[str, ...]:
    """The kinds of personal data present in ``text`` (first-appearance order), without a key."""
    kinds: list[str] = []
    for match in _find(text):
        if match.kind != "token" and match.kind not in kinds:
            kinds.append(match.kind)
    return tuple(kinds)
