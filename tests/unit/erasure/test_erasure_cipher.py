"""Envelope encryption: sealed fields open only for their tenant, field and key."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from somagent.erasure.cipher import (
    is_sealed,
    key_id_of,
    new_data_key,
    open_sealed,
    seal,
    unwrap,
    wrap,
)
from somagent.erasure.exceptions import CipherError

TENANT, OTHER = str(uuid.uuid4()), str(uuid.uuid4())


@given(text=st.text(max_size=500))
def test_a_sealed_field_opens_to_its_text_and_never_shows_it(text: str) -> None:
    key = new_data_key()
    sealed = seal(key, "dk-1", TENANT, "TurnRequested.text", text)
    assert is_sealed(sealed) and key_id_of(sealed) == "dk-1"
    assert open_sealed(key, TENANT, "TurnRequested.text", sealed) == text
    if len(text) >= 8:  # a shorter text could appear in random base64 by chance
        assert text not in sealed.split(":", 2)[2]


def test_a_sealed_field_does_not_open_for_another_tenant_field_key_or_after_tampering() -> None:
    key = new_data_key()
    sealed = seal(key, "dk-1", TENANT, "TurnAnswered.text", "the answer")
    with pytest.raises(CipherError):
        open_sealed(key, OTHER, "TurnAnswered.text", sealed)
    with pytest.raises(CipherError):
        open_sealed(key, TENANT, "TurnRequested.text", sealed)
    with pytest.raises(CipherError):
        open_sealed(new_data_key(), TENANT, "TurnAnswered.text", sealed)
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(CipherError):
        open_sealed(key, TENANT, "TurnAnswered.text", flipped)
    with pytest.raises(CipherError):
        key_id_of("plain text")
    # Two seals of one text differ (fresh nonces).
    assert seal(key, "dk-1", TENANT, "f", "x") != seal(key, "dk-1", TENANT, "f", "x")


def test_a_wrapped_key_unwraps_only_with_its_master_and_tenant() -> None:
    master, data_key = new_data_key(), new_data_key()
    wrapped = wrap(master, TENANT, data_key)
    assert data_key not in wrapped
    assert unwrap(master, TENANT, wrapped) == data_key
    with pytest.raises(CipherError):
        unwrap(master, OTHER, wrapped)
    with pytest.raises(CipherError):
        unwrap(new_data_key(), TENANT, wrapped)
