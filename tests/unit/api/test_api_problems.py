"""Problem types are stable, well-formed RFC 9457 documents."""

from __future__ import annotations

import json

import pytest

from somagent.api.problems import BASE, MEDIA_TYPE, TYPES, Problem, throttled


def test_every_type_has_a_stable_uri_status_and_title() -> None:
    for slug, t in TYPES.items():
        assert t.uri == BASE + slug and t.uri.startswith("https://somagent.dev/problems/")
        assert 400 <= t.status <= 599 and t.title
    assert TYPES["body-too-large"].status == 413
    assert TYPES["token-expired"].status == 401
    assert TYPES["budget-exhausted"].status == 402
    assert TYPES["unsupported-media-type"].status == 415
    assert TYPES["invalid-body"].status == 422
    assert TYPES["rate-limited"].status == 429
    assert TYPES["overloaded"].status == 503


def test_response_is_problem_json_with_extensions_and_headers() -> None:
    p = throttled("rate-limited", "slow down", 7, window="rate:t:x")
    r = p.response("/v1/turn", "a" * 32)
    assert r.status_code == 429 and r.media_type == MEDIA_TYPE
    assert r.headers["retry-after"] == "7" and r.headers["x-trace-id"] == "a" * 32
    body = json.loads(bytes(r.body))
    assert body == {"type": BASE + "rate-limited", "title": "Rate limit exceeded", "status": 429,
                    "detail": "slow down", "instance": "/v1/turn", "trace_id": "a" * 32,
                    "retry_after_s": 7, "window": "rate:t:x"}


def test_retry_after_is_at_least_one_second() -> None:
    assert throttled("overloaded", "x", 0).headers["Retry-After"] == "1"


def test_unknown_slug_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        Problem("no-such-problem", "x")
