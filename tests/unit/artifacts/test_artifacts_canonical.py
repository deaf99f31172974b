"""RFC 8785 canonical form and digests of JSON and YAML documents."""

from __future__ import annotations

import hashlib
import json

import pytest

from somagent.artifacts import canonical
from somagent.artifacts.exceptions import InvalidArtifact


def test_json_and_yaml_of_one_document_have_one_digest() -> None:
    as_json = b'{"b": [1, 2.5, "x"], "a": {"z": true, "y": null}}'
    as_yaml = b"a:\n  y: null\n  z: true\nb:\n  - 1\n  - 2.5\n  - x\n"
    one = canonical.parse(as_json, "json")
    two = canonical.parse(as_yaml, "yaml")
    assert canonical.canonical_bytes(one) == b'{"a":{"y":null,"z":true},"b":[1,2.5,"x"]}'
    assert canonical.digest(one) == canonical.digest(two) == hashlib.sha256(
        canonical.canonical_bytes(one)).hexdigest()


def test_rfc8785_number_and_string_rules() -> None:
    # RFC 8785 appendix examples: ES6 number formatting, UTF-16 key order, minimal escapes.
    document = {"numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000001],
                "\u20ac": "euro", "\r": "cr", "1": "one", "string": "\u20ac$\u000f\nA'B\"\\"}
    text = canonical.canonical_bytes(document).decode()
    assert text.startswith('{"\\r":"cr","1":"one","numbers":[333333333.3333333,1e+30,4.5,0.002,'
                           '0.000001]')
    assert json.loads(text) == document


@pytest.mark.parametrize(("raw", "kind", "message"), [
    (b"[1, 2]", "json", "must be an object"),
    (b"{bad", "json", "not valid JSON"),
    (b"a: [1\n", "yaml", "not valid YAML"),
    (b"when: 2024-01-01\n", "yaml", "date"),
    (b"1: x\n", "yaml", "not a string"),
    (b"\xff\xfe", "json", "not UTF-8"),
    (b'{"x": NaN}', "json", "not a finite number"),
])
def test_what_is_refused(raw: bytes, kind: str, message: str) -> None:
    with pytest.raises((InvalidArtifact, ValueError)) as caught:
        canonical.parse(raw, kind)
    assert message in str(caught.value)


def test_media_kinds() -> None:
    assert canonical.media_kind("application/vnd.somagent.capsule+yaml") == "yaml"
    assert canonical.media_kind("application/json; charset=utf-8") == "json"
    with pytest.raises(InvalidArtifact):
        canonical.media_kind("text/plain")
