"""Local tokens: created once, same value for every caller, private file mode."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from somagent.credentials import matches, operator_token, service_token


def test_token_is_created_once_and_private(tmp_path: Path) -> None:
    first = service_token(tmp_path)
    assert len(first) == 43
    assert service_token(tmp_path) == first
    mode = stat.S_IMODE((tmp_path / "keys" / "service.token").stat().st_mode)
    assert mode == 0o600
    assert operator_token(tmp_path) != first


def test_concurrent_creators_agree(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(lambda _: service_token(tmp_path), range(32)))
    assert len(tokens) == 1


def test_matches_is_exact() -> None:
    assert matches("abc", "abc")
    assert not matches("abd", "abc")
    assert not matches(None, "abc")
    assert not matches("", "abc")
