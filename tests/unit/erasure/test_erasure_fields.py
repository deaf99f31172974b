"""Which fields are sealed, and how a payload seals and opens (keys passed in)."""

from __future__ import annotations

import uuid

import pytest

from somagent.erasure.cipher import ERASED, is_sealed, new_data_key
from somagent.erasure.exceptions import CipherError
from somagent.erasure.fields import PII_FIELDS, open_payload, seal_payload
from somagent.events import schemas
from somagent.events.examples import example_payloads

TENANT = str(uuid.uuid4())
KEY = new_data_key()


def live(tenant: str) -> tuple[str, bytes]:
    return "dk-1", KEY


def by_id(tenant: str, key_id: str) -> bytes | None:
    return KEY if key_id == "dk-1" else None


def test_every_sealed_field_is_a_string_field_of_the_contract() -> None:
    named = schemas.load_named()
    for kind, specs in PII_FIELDS.items():
        assert f"somagent.{kind}" in named, kind
        fields = {f["name"] for f in named[f"somagent.{kind}"]["fields"]}
        for spec in specs:
            assert spec.partition("[].")[0] in fields


@pytest.mark.parametrize("kind", sorted(PII_FIELDS))
def test_each_pii_type_seals_and_opens_back(kind: str) -> None:
    payload = example_payloads(5)[kind]
    sealed = seal_payload(kind, TENANT, payload, live)
    assert sealed != payload
    for spec in PII_FIELDS[kind]:
        name, _, inner = spec.partition("[].")
        values = [i[inner] for i in sealed[name]] if inner else [sealed[name]]
        assert values and all(is_sealed(v) for v in values)
    assert open_payload(kind, TENANT, sealed, by_id) == payload
    assert seal_payload(kind, TENANT, sealed, live) == sealed  # sealing twice is a no-op
    erased = open_payload(kind, TENANT, sealed, lambda t, k: None)
    assert ERASED in str(erased)


def test_other_types_and_clear_values_pass_through() -> None:
    usage = example_payloads(5)["TurnCompleted"]
    assert seal_payload("TurnCompleted", TENANT, usage, live) is usage
    clear = example_payloads(5)["TurnAnswered"]
    assert open_payload("TurnAnswered", TENANT, clear, by_id) == clear
    sealed = seal_payload("TurnAnswered", TENANT, clear, live)
    with pytest.raises(CipherError):  # sealed for another tenant
        open_payload("TurnAnswered", str(uuid.uuid4()), sealed, by_id)
