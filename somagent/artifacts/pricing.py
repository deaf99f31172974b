"""The capsule SKU: the price of one capsule read, from the price book's ``[skus]`` table.

``capsule_read_picocents`` in ``infra/billing/pricebook.toml`` (or
``$SOMAGENT_PRICEBOOK``) is stamped on the ``UsageRecorded`` of every capsule read
as its ``tool_call_price_picocents`` (one read = one unit under agent
``capsule:<id>``), so billing prices it like any stamped record.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from somagent.artifacts.exceptions import ArtifactError
from somagent.billing.pricebook_file import DEFAULT_PATH, ENV_VAR

SKU = "capsule_read_picocents"


def capsule_read_picocents(path: Path | str | None = None) -> int:
    """The capsule read price in picocents (:class:`ArtifactError` if missing or invalid)."""
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH)
    try:
        text = chosen.read_text()
        data = json.loads(text) if chosen.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"price book {chosen}: unreadable: {exc}") from exc
    value = (data.get("skus") or {}).get(SKU)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ArtifactError(f"price book {chosen}: [skus] {SKU} must be a non-negative integer "
                            f"(picocents), got {value!r}")
    return value
