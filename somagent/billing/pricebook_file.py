"""Reading the price book file: ``$SOMAGENT_PRICEBOOK``, else ``infra/billing/pricebook.toml``.

The parsing and every rule about prices are pure (:mod:`somagent.billing.pricebook`);
this module only finds and reads the file.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from somagent.billing.exceptions import PriceBookError
from somagent.billing.pricebook import PriceBook, parse_pricebook

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "infra" / "billing" / "pricebook.toml"
ENV_VAR = "SOMAGENT_PRICEBOOK"


def load_pricebook(path: Path | str | None = None) -> PriceBook:
    """Read the price book at ``path``, ``$SOMAGENT_PRICEBOOK``, or the default file.

    Raises:
        PriceBookError: the file is unreadable or invalid (the message names it).
    """
    chosen = Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH)
    try:
        text = chosen.read_text()
    except OSError as exc:
        raise PriceBookError(f"price book {chosen}: cannot read: {exc}") from exc
    try:
        data = json.loads(text) if chosen.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise PriceBookError(f"price book {chosen}: not valid: {exc}") from exc
    return parse_pricebook(data, str(chosen))
