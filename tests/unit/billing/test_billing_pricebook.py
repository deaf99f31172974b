"""The price book: file format, validation, integer prices and half-up rounding."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from somagent.billing.exceptions import PriceBookError
from somagent.billing.pricebook import PICOCENTS_PER_CENT, cents_half_up, parse_pricebook
from somagent.billing.pricebook_file import load_pricebook


def test_default_file_has_the_plans() -> None:
    book = load_pricebook()
    assert {"free", "pro", "enterprise"} <= set(book.plans)
    assert book.prices("no-such-plan") == book.prices(book.default_plan)


def test_env_var_selects_a_json_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        '{"default_plan": "x", "plans": {"x": {"token_picocents": 3, "tool_call_picocents": 0,'
        ' "storage_byte_picocents": 0, "egress_byte_picocents": 0}}}'
    )
    monkeypatch.setenv("SOMAGENT_PRICEBOOK", str(path))
    assert load_pricebook().prices(None).token_picocents == 3


@pytest.mark.parametrize(
    ("plan", "detail"),
    [({"token_picocents": 1.5}, "non-negative integer"), ({"token_picocents": -1}, "non-negative")],
)
def test_bad_prices_are_named(plan: dict[str, object], detail: str) -> None:
    with pytest.raises(PriceBookError, match=detail):
        parse_pricebook({"plans": {"p": plan}})


def test_missing_default_plan_is_rejected() -> None:
    from somagent.billing.pricebook import PRICE_FIELDS

    ok = dict.fromkeys(PRICE_FIELDS, 1)
    with pytest.raises(PriceBookError, match="default_plan"):
        parse_pricebook({"default_plan": "gold", "plans": {"p": ok}})


def test_rounding_is_half_up() -> None:
    assert cents_half_up(PICOCENTS_PER_CENT // 2) == 1
    assert cents_half_up(PICOCENTS_PER_CENT // 2 - 1) == 0
    assert cents_half_up(3 * PICOCENTS_PER_CENT) == 3


@given(st.integers(0, 10**20))
def test_rounding_error_is_below_half_a_cent(picocents: int) -> None:
    assert abs(cents_half_up(picocents) * PICOCENTS_PER_CENT - picocents) <= PICOCENTS_PER_CENT // 2


def test_stamped_prices_win_over_the_plan() -> None:
    book = load_pricebook()
    stamped = {"tokens": 10, "token_price_picocents": 7}
    assert book.usage_cost_picocents(stamped, "free") == 70
    unstamped = {"tokens": 10}
    assert book.usage_cost_picocents(unstamped, "pro") == 10 * book.prices("pro").token_picocents
