"""Structured HRR records against the closed forms of bind/unbind and superposition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.math import hrr
from somagent.math.hrr_record import (
    encode,
    expected_role_cosine,
    expected_semantic_cosine,
    lift,
    role_match,
    unbind_role,
)

D = 8192
NOISE = 4.0 / math.sqrt(D)  # four standard deviations of the crosstalk noise


@settings(max_examples=20, deadline=None)
@given(m=st.integers(2, 512), seed=st.integers(0, 10_000))
def test_lift_preserves_cosines_exactly(m: int, seed: int) -> None:
    key = hrr.random_unitary(1, D, seed)[0]
    a, b = np.random.default_rng(seed).normal(size=(2, m))
    la, lb = lift(a, key), lift(b, key)
    assert np.linalg.norm(la) == pytest.approx(np.linalg.norm(a), rel=1e-12)
    assert hrr.cosine(la, lb) == pytest.approx(hrr.cosine(a, b), abs=1e-12)


def test_one_unitary_pair_unbinds_exactly() -> None:
    role = hrr.random_unitary(1, D, 1)[0]
    filler = hrr.random_vectors(1, D, 2)[0]
    record = encode(np.zeros(D), role[None], filler[None], omega=0.0)
    np.testing.assert_allclose(unbind_role(record, role), filler, atol=1e-12)


@pytest.mark.parametrize("pairs", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("omega", [0.0, 1.0, 2.0])
def test_superposition_matches_the_closed_form(pairs: int, omega: float) -> None:
    roles = hrr.random_unitary(pairs, D, 10 + pairs)
    fillers = hrr.random_vectors(pairs, D, 20 + pairs)
    semantic = hrr.random_vectors(1, D, 30)[0]
    record = encode(semantic, roles, fillers, omega=omega)
    assert np.linalg.norm(record) == pytest.approx(1.0, abs=1e-12)
    expected = expected_role_cosine(pairs, omega) if omega or pairs else 1.0
    for k in range(pairs):
        got = hrr.cosine(unbind_role(record, roles[k]), fillers[k])
        assert got == pytest.approx(expected, abs=NOISE * math.sqrt(pairs + omega**2))
    if omega:
        assert hrr.cosine(record, semantic) == pytest.approx(
            expected_semantic_cosine(pairs, omega), abs=NOISE * math.sqrt(pairs + 1)
        )


def test_role_match_tells_the_bound_filler_from_others() -> None:
    roles = hrr.random_unitary(3, D, 40)
    fillers = hrr.random_vectors(20, D, 41)
    semantic = hrr.random_vectors(20, D, 42)
    # Record i binds role 0 to filler i, roles 1 and 2 to fillers (i+1), (i+2).
    records = np.stack(
        [encode(semantic[i], roles, fillers[[i, (i + 1) % 20, (i + 2) % 20]]) for i in range(20)]
    )
    scores = role_match(records, roles[0], fillers[7])
    assert int(np.argmax(scores)) == 7
    assert scores[7] == pytest.approx(expected_role_cosine(3), abs=NOISE * 2)
    others = np.delete(scores, 7)
    assert np.abs(others).max() < 5 * NOISE


def test_wiener_unbinding_beats_correlation_for_a_random_role() -> None:
    role = hrr.random_vectors(1, D, 50)[0]  # not unitary: plain correlation is noisy
    filler = hrr.random_vectors(1, D, 51)[0]
    record = hrr.bind(role, filler)
    plain = hrr.cosine(hrr.unbind(record, role), filler)
    wiener = hrr.cosine(unbind_role(record, role, noise=0.01), filler)
    assert plain == pytest.approx(1 / math.sqrt(2), abs=0.03)
    assert wiener > 0.99


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        lift(np.ones(10), np.ones(4))
    with pytest.raises(ValueError):
        encode(np.zeros(8), np.zeros((0, 8)), np.zeros((0, 8)))
    with pytest.raises(ValueError):
        expected_role_cosine(0)
