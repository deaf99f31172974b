"""The one place that defines what counts as PII in text the turn engine sends.

* ``pii:<hex>`` tokens are how the memory package stores hashed PII; revealing
  one in an answer would let a reader correlate people across tenants.
* Raw e-mail addresses and phone numbers must not be echoed either.

The phone pattern requires separators or a leading ``+`` so plain integers
(calculator results such as ``1099511627776``) are not mistaken for phones.

Every pattern runs in time linear in the text (they check answers and quoted tool
output, which a user controls): a match can only start where its first run of
characters starts (the e-mail local part is anchored by a look-behind on its own
character class, not ``\b``, which let ``a.a.a.a…`` restart the scan at every dot),
and the other quantifiers are bounded or cannot overlap.
"""

from __future__ import annotations

import re
from typing import Final

PII_TOKEN_RE: Final = re.compile(r"\bpii:[0-9a-fA-F]{8,}\b")
_LOCAL: Final = r"[A-Za-z0-9_.%+-]"  # an e-mail local part's characters
EMAIL_RE: Final = re.compile(
    rf"(?<!{_LOCAL}){_LOCAL}+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{{2,}}\b"
)
PHONE_RE: Final = re.compile(
    r"(?<![\w/.])(?:"
    r"\+\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,4}"  # +44 20 7946 0958
    r"|\(\d{3}\)\s?\d{3}[\s.-]\d{4}"  # (555) 123-4567
    r"|\d{3}[\s.-]\d{3}[\s.-]\d{4}"  # 555-123-4567
    r")(?![\w/])"
)

PATTERNS: Final = {"pii_token": PII_TOKEN_RE, "email": EMAIL_RE, "phone": PHONE_RE}

REDACTED: Final = "[redacted]"


def find_pii(text: str) -> list[tuple[str, str]]:
    """Every ``(kind, match)`` of PII in ``text``, kinds in :data:`PATTERNS` order."""
    return [(kind, m.group(0)) for kind, rx in PATTERNS.items() for m in rx.finditer(text)]


def redact(text: str) -> str:
    """``text`` with every PII match replaced by ``[redacted]``."""
    for rx in PATTERNS.values():
        text = rx.sub(REDACTED, text)
    return text
