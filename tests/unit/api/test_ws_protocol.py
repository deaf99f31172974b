"""The WebSocket edge's pure parts: subprotocol credentials and the close reason."""

from __future__ import annotations

import json

from somagent.api.problems import TYPES, Problem
from somagent.api.routes_ws import close_reason, offered_protocols, subprotocol_token


def test_the_token_travels_as_a_bearer_subprotocol() -> None:
    offered = offered_protocols("somagent.turn.v1, bearer.eyJ.a-b_c.d")
    assert offered == ["somagent.turn.v1", "bearer.eyJ.a-b_c.d"]
    assert subprotocol_token(offered) == "eyJ.a-b_c.d"
    assert subprotocol_token(offered_protocols("somagent.turn.v1")) is None
    assert subprotocol_token(["bearer."]) is None


def test_every_close_reason_fits_a_close_frame_and_names_the_problem() -> None:
    trace = "f" * 32
    for slug in TYPES:
        reason = close_reason(Problem(slug, "x" * 500), trace)
        assert len(reason.encode()) <= 123, slug
        parsed = json.loads(reason)
        assert parsed["type"].endswith("/" + slug) and parsed["status"] == TYPES[slug].status
