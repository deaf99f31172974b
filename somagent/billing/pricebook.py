"""Per-plan unit prices, read from a file so prices change without code changes.

Pure: the file is read by :mod:`somagent.billing.pricebook_file`
(``SOMAGENT_PRICEBOOK`` when set, else ``infra/billing/pricebook.toml``; TOML, or
JSON with the same shape)::

    default_plan = "free"
    [plans.free]
    token_picocents = 1_000_000_000
    tool_call_picocents = 50_000_000_000
    storage_byte_picocents = 2_300
    egress_byte_picocents = 9_000

Units and rounding (the guarantee every ledger row keeps):

* Prices are non-negative integers in **picocents** (1e-12 cent) per unit, the
  unit of ``UsageRecorded``'s ``*_price_picocents`` fields.
* A usage record costs ``sum(count * unit price)`` picocents, exactly (integers).
* A ledger row's ``cost_cents`` is the window's exact picocent total rounded
  **half-up** to whole cents (:func:`cents_half_up`), computed once per window
  from the cumulative total; a correction row carries
  ``cents_half_up(total_after) - cents_half_up(total_before)``. So the rows of a
  window always sum to the rounded exact cost of all its usage, whatever the
  order of arrival; the per-window rounding error is below half a cent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from somagent.billing.exceptions import PriceBookError

PICOCENTS_PER_CENT = 1_000_000_000_000
_HALF_CENT = PICOCENTS_PER_CENT // 2
PRICE_FIELDS = (
    "token_picocents",
    "tool_call_picocents",
    "storage_byte_picocents",
    "egress_byte_picocents",
)


def cents_half_up(picocents: int) -> int:
    """``picocents`` rounded to whole cents, halves rounded up (towards +infinity)."""
    return (picocents + _HALF_CENT) // PICOCENTS_PER_CENT


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """Integer picocents per token, tool call, stored byte and egress byte."""

    token_picocents: int
    tool_call_picocents: int
    storage_byte_picocents: int
    egress_byte_picocents: int

    def cost_picocents(
        self, tokens: int, tool_calls: int, storage_bytes: int, egress_bytes: int
    ) -> int:
        """Exact cost of the given counts in picocents."""
        return (
            tokens * self.token_picocents
            + tool_calls * self.tool_call_picocents
            + storage_bytes * self.storage_byte_picocents
            + egress_bytes * self.egress_byte_picocents
        )

    def as_payload_fields(self) -> dict[str, int]:
        """The ``UsageRecorded`` price fields (``token_price_picocents``, ...)."""
        return {
            "token_price_picocents": self.token_picocents,
            "tool_call_price_picocents": self.tool_call_picocents,
            "storage_byte_price_picocents": self.storage_byte_picocents,
            "egress_byte_price_picocents": self.egress_byte_picocents,
        }


def record_prices(payload: Mapping[str, Any]) -> UnitPrices | None:
    """The unit prices stamped on a ``UsageRecorded`` payload, or None if all are zero."""
    prices = UnitPrices(
        int(payload.get("token_price_picocents", 0)),
        int(payload.get("tool_call_price_picocents", 0)),
        int(payload.get("storage_byte_price_picocents", 0)),
        int(payload.get("egress_byte_price_picocents", 0)),
    )
    return None if prices == UnitPrices(0, 0, 0, 0) else prices


@dataclass(frozen=True, slots=True)
class PriceBook:
    """Plans by name and the plan for tenants whose plan is unknown."""

    plans: Mapping[str, UnitPrices]
    default_plan: str
    source: str = "<memory>"

    def prices(self, plan: str | None) -> UnitPrices:
        """Prices of ``plan``; the default plan's for None or an unknown plan."""
        if plan is not None and plan in self.plans:
            return self.plans[plan]
        return self.plans[self.default_plan]

    def usage_cost_picocents(self, payload: Mapping[str, Any], plan: str | None) -> int:
        """Exact cost of one ``UsageRecorded`` payload.

        Prices stamped on the record win (they are what was quoted when the work
        was done, and they are in the log, so a re-run bills the same); a record
        without prices is priced with ``plan``'s prices from this book.
        """
        prices = record_prices(payload) or self.prices(plan)
        return prices.cost_picocents(
            int(payload.get("tokens", 0)),
            int(payload.get("tool_calls", 0)),
            int(payload.get("storage_bytes", 0)),
            int(payload.get("egress_bytes", 0)),
        )


def parse_pricebook(data: Mapping[str, Any], source: str = "<memory>") -> PriceBook:
    """A :class:`PriceBook` from the parsed file contents.

    Raises:
        PriceBookError: no plans, a missing or non-integer or negative price, or a
            ``default_plan`` that is not among the plans.
    """
    raw_plans = data.get("plans")
    if not isinstance(raw_plans, Mapping) or not raw_plans:
        raise PriceBookError(f"price book {source}: needs a non-empty [plans] table")
    plans: dict[str, UnitPrices] = {}
    for name, raw in raw_plans.items():
        if not isinstance(raw, Mapping):
            raise PriceBookError(f"price book {source}: plan {name!r} must be a table")
        values = []
        for field_name in PRICE_FIELDS:
            value = raw.get(field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PriceBookError(
                    f"price book {source}: plan {name!r} needs {field_name} as a "
                    f"non-negative integer (picocents), got {value!r}"
                )
            values.append(value)
        plans[str(name)] = UnitPrices(*values)
    default = str(data.get("default_plan", next(iter(plans))))
    if default not in plans:
        raise PriceBookError(f"price book {source}: default_plan {default!r} is not a plan")
    return PriceBook(plans, default, source)
