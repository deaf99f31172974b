"""The brain's tuner: rollback on a held-out drop, scope isolation, replay determinism."""

from __future__ import annotations

import numpy as np

from somagent.math.utility import Example
from somagent.memory.brain.config import BrainConfig
from somagent.memory.brain.features import rounded
from somagent.memory.brain.tuner import Tuner


def examples(seed: int, n: int, rule: np.ndarray) -> list[Example]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rounded(rng.uniform(-1, 1, size=(10, 6)))
        useful = np.zeros(10, dtype=bool)
        useful[int(np.argmax(x @ rule))] = True
        out.append(Example(x, useful))
    return out


GOOD = np.array([1.0, 0, 0, 0, 0, 0])  # the truth: semantic similarity alone
BAD = np.array([0.0, 0, 0, 0, 0, 1.0])  # misleading feedback: lexical alone


def test_rollback_when_training_feedback_hurts_the_held_out_metric() -> None:
    tuner = Tuner(BrainConfig(learning_rate=0.5, rollback_tolerance=0.01))
    key = ("tenant", None)
    for ex in examples(1, 20, GOOD):  # held-out examples follow the truth
        tuner.apply(key, ex, held_out=True)
    rolled = 0
    for ex in examples(2, 30, BAD):  # misleading training feedback
        update = tuner.apply(key, ex, held_out=False)
        rolled += update.rolled_back
        assert update.mrr_good >= update.mrr_candidate or not update.rolled_back
    assert rolled > 0
    np.testing.assert_array_equal(tuner.weights(key), tuner._scopes[key].last_good)
    # the weights in force never score worse on the held-out set than the initial ones
    held = list(tuner._scopes[key].held_out)
    from somagent.math.utility import mean_reciprocal_rank

    assert mean_reciprocal_rank(held, tuner.weights(key)) >= mean_reciprocal_rank(
        held, tuner.prior
    ) - 0.01


def test_scopes_are_isolated() -> None:
    tuner = Tuner(BrainConfig())
    for ex in examples(3, 10, BAD):
        tuner.apply(("a", "capsule-1"), ex, held_out=False)
    assert not np.array_equal(tuner.weights(("a", "capsule-1")), tuner.prior)
    np.testing.assert_array_equal(tuner.weights(("a", None)), tuner.prior)
    np.testing.assert_array_equal(tuner.weights(("b", "capsule-1")), tuner.prior)


def test_replay_reproduces_the_weights_bit_for_bit() -> None:
    stream = [(ex, i % 4 == 0) for i, ex in enumerate(examples(4, 60, GOOD + 0.5 * BAD))]
    first, second = Tuner(BrainConfig()), Tuner(BrainConfig())
    for ex, held in stream:
        first.apply(("t", None), ex, held)
    for ex, held in stream:
        second.apply(("t", None), Example(ex.features.copy(), ex.useful.copy()), held)
    assert first.weights(("t", None)).tobytes() == second.weights(("t", None)).tobytes()


def test_confidence_is_calibrated_after_enough_held_out_labels() -> None:
    tuner = Tuner(BrainConfig(calibration_min_labels=40))
    key = ("t", None)
    for ex in examples(5, 30, GOOD):
        tuner.apply(key, ex, held_out=True)
    assert tuner._scopes[key].platt is not None
    p = tuner.confidence(key, np.array([-1.0, 0.0, 1.0]))
    assert np.all(np.diff(p) > 0) and p[0] > 0 and p[-1] < 1
