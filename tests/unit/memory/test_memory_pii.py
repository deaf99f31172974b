"""PII redaction: every detected kind, keyed determinism, idempotency, no false positives."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.memory.exceptions import InvalidPiiKey
from somagent.memory.pii import detect, iban_valid, luhn_valid, pii_token, redact

KEY = b"unit-test-key-0123456789abcdef"
OTHER_KEY = b"another-key-0123456789abcdefghij"
TOKEN = re.compile(r"pii:[0-9a-f]{16}")


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        ("write to John.Doe+tag@example.co.uk today", "John.Doe+tag@example.co.uk", "email"),
        ("call +49 30 1234 5678 please", "+49 30 1234 5678", "phone"),
        ("call +14155552671", "+14155552671", "phone"),
        ("call 0049 30 12345678", "0049 30 12345678", "phone"),
        ("US office (555) 123-4567", "(555) 123-4567", "phone"),
        ("US office 555-123-4567.", "555-123-4567", "phone"),
        ("UK mobile 07700 900123", "07700 900123", "phone"),
        ("Berlin 030 1234567", "030 1234567", "phone"),
        ("pay DE89 3704 0044 0532 0130 00 thanks", "DE89 3704 0044 0532 0130 00", "iban"),
        ("pay GB82WEST12345698765432.", "GB82WEST12345698765432", "iban"),
        ("card 4111 1111 1111 1111 expires", "4111 1111 1111 1111", "card"),
        ("card 5500-0000-0000-0004", "5500-0000-0000-0004", "card"),
        ("amex 378282246310005", "378282246310005", "card"),
        ("ssn 123-45-6789", "123-45-6789", "ssn"),
        ("from host 192.168.1.20 yesterday", "192.168.1.20", "ipv4"),
    ],
)
def test_each_kind_is_replaced_by_a_keyed_token(text: str, secret: str, kind: str) -> None:
    result = redact(text, KEY)
    assert secret not in result.text
    assert result.kinds == (kind,)
    assert result.count == 1
    assert len(TOKEN.findall(result.text)) == 1
    assert detect(text) == (kind,)


@pytest.mark.parametrize(
    "text",
    [
        "released on 2024-01-15 and 01.02.2024",
        "version 1.2.3 of order 12345678, quantity 3",
        "card-like 4111 1111 1111 1112 fails Luhn",
        "IBAN-like DE00 3704 1044 5532 1130 12 fails mod 97",
        "the year 1999 and room 101",
        "not an address: user at example dot com",
    ],
)
def test_ordinary_numbers_and_words_are_left_alone(text: str) -> None:
    assert redact(text, KEY).text == text
    assert detect(text) == ()


def test_same_value_same_token_and_key_matters() -> None:
    a = redact("mail ALICE@Example.com", KEY).text
    b = redact("mail alice@example.com", KEY).text
    c = redact("mail alice@example.com", OTHER_KEY).text
    assert a == b  # e-mail canonicalised to lower case
    assert a != c
    assert pii_token(KEY, "email", "alice@example.com") in a


def test_several_values_in_one_text() -> None:
    text = "Alice <alice@example.com>, +1 415 555 2671, card 4111111111111111."
    result = redact(text, KEY)
    assert result.kinds == ("email", "phone", "card")
    assert result.count == 3
    assert "alice@" not in result.text and "4111" not in result.text and "2671" not in result.text


def test_short_key_is_refused() -> None:
    with pytest.raises(InvalidPiiKey):
        redact("x", b"short")


def test_checksums() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33")


_pieces = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.emails(),
    st.from_regex(r"\+[1-9][0-9]{7,13}", fullmatch=True),
    st.sampled_from(["4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00", "030 1234567"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_pieces, max_size=6))
def test_redaction_is_idempotent_and_deterministic(pieces: list[str]) -> None:
    text = " ".join(pieces)
    once = redact(text, KEY)
    assert redact(text, KEY) == once
    assert redact(once.text, KEY).text == once.text


@settings(max_examples=200, deadline=None)
@given(st.emails())
def test_no_generated_email_survives(address: str) -> None:
    result = redact(f"contact {address} now", KEY)
    assert address not in result.text
    assert "email" in result.kinds
