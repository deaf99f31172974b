"""The policy document, its hash, and the constitution's signatures (pure)."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from somagent.artifacts.signing import thumbprint
from somagent.policy import document as doc
from somagent.policy.constitution import Constitution, message, sign
from somagent.policy.defaults import DEFAULT_POLICY, DEFAULT_POLICY_HASH
from somagent.policy.demo import demo_policy
from somagent.policy.exceptions import InvalidPolicy, SignatureInvalid


def test_hash_is_sha256_of_the_rfc8785_form_whatever_the_key_order() -> None:
    document = demo_policy("p", tools=["calc"], hosts=["a.example.org"])
    shuffled = json.loads(json.dumps(document, sort_keys=True))
    shuffled["data"] = dict(reversed(list(shuffled["data"].items())))
    # RFC 8785 by hand for this document (ASCII strings and integers only): sorted keys,
    # no whitespace; an independent check of the library's output.
    by_hand = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert doc.policy_hash(shuffled) == "sha256-" + hashlib.sha256(by_hand).hexdigest()
    changed = {**document, "version": "2"}
    assert doc.policy_hash(changed) != doc.policy_hash(document)


def test_default_policy_is_valid_and_its_hash_is_stable() -> None:
    assert doc.validate(DEFAULT_POLICY) == DEFAULT_POLICY
    assert doc.policy_hash(DEFAULT_POLICY) == DEFAULT_POLICY_HASH
    assert DEFAULT_POLICY["data"]["egress"]["hosts"] == []


@pytest.mark.parametrize(("mutate", "pointer"), [
    (lambda d: d["data"]["memory"].update(mode="all"), "/data/memory/mode"),
    (lambda d: d["data"].pop("tools"), "/data"),
    (lambda d: d.update(kind="agent"), "/kind"),
    (lambda d: d["data"].update(lane="fast"), "/data/lane"),
    (lambda d: d.update(extra=1), "/"),
])
def test_invalid_documents_name_the_field(mutate: object, pointer: str) -> None:
    document = demo_policy("p", tools=["calc"])
    mutate(document)  # type: ignore[operator]
    with pytest.raises(InvalidPolicy) as caught:
        doc.validate(document)
    assert pointer in [e["pointer"] for e in caught.value.errors]


def test_custom_rules_live_in_a_package_derived_from_the_hash() -> None:
    hash_ = "sha256-" + "ab" * 32
    module = doc.custom_module(hash_, 'deny contains "x" if { true }')
    assert module.startswith(f"package somagent.custom.p_{'ab' * 32}\n")
    assert doc.module_id(hash_) == "p_" + "ab" * 32


def test_k_of_n_signatures_verify_per_key() -> None:
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    constitution = Constitution({thumbprint(k.public_key()): k.public_key() for k in keys}, 2)
    hash_ = "sha256-" + "1" * 64
    key_id, signature = sign(keys[0], hash_)
    constitution.verify(hash_, key_id, signature)
    assert keys[0].public_key().verify(
        __import__("base64").urlsafe_b64decode(signature + "=="), message(hash_)) is None
    with pytest.raises(SignatureInvalid, match="does not verify"):
        constitution.verify("sha256-" + "2" * 64, key_id, signature)  # another policy
    outsider = Ed25519PrivateKey.generate()
    with pytest.raises(SignatureInvalid, match="not a constitution key"):
        constitution.verify(hash_, *sign(outsider, hash_))
    with pytest.raises(SignatureInvalid):
        constitution.verify(hash_, key_id, "not base64 at all!")
