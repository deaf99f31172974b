"""HrrEmbedder: shape, unit norm, determinism, and that similarity means shared content."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from somagent.memory.embedder import Embedder, HrrEmbedder, tokenize, trigrams
from somagent.memory.exceptions import EmbeddingError

EMBEDDER = HrrEmbedder()


def cos(a: str, b: str) -> float:
    vectors = EMBEDDER.embed([a, b])
    return float(vectors[0] @ vectors[1])


def test_shape_dtype_and_protocol() -> None:
    vectors = EMBEDDER.embed(["one", "two words", ""])
    assert vectors.shape == (3, 1024)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert isinstance(EMBEDDER, Embedder)
    assert EMBEDDER.embed([]).shape == (0, 1024)


def test_deterministic_across_instances_and_batches() -> None:
    text = "The user prefers dark roast coffee"
    fresh = HrrEmbedder(cache_size=1)
    alone = fresh.embed([text])[0]
    batched = EMBEDDER.embed(["something else", text])[1]
    assert np.array_equal(alone, batched)
    assert not np.allclose(alone, HrrEmbedder(seed=1).embed([text])[0])


def test_tokenisation() -> None:
    assert tokenize("Hello, WORLD! ﬁne") == ["hello", "world", "fine"]
    assert trigrams("cat") == ["#ca", "cat", "at#"]


def test_related_texts_are_closer_than_unrelated() -> None:
    base = "The user prefers dark roast coffee in the morning"
    related = "the user likes dark roasted coffee every morning"
    unrelated = "Quarterly revenue grew by twelve percent in Europe"
    assert cos(base, related) > 0.5
    assert abs(cos(base, unrelated)) < 0.2
    assert cos(base, related) > cos(base, unrelated) + 0.3


def test_inflections_overlap_through_trigrams() -> None:
    # 6 of 9 trigrams shared; words differ, so about 0.7**2 * 0.76 / 1.49 of the norm.
    assert cos("remembered", "remember") > 0.2
    assert abs(cos("remembered", "quarterly")) < 0.1
    assert cos("meeting in Lisbon", "meetings in Lisbon") > cos(
        "meeting in Lisbon", "party in Rome"
    )


def test_word_order_matters_a_little() -> None:
    swapped = cos("dog bites man", "man bites dog")
    assert 0.8 < swapped < 0.99


def test_stopwords_do_not_make_texts_alike() -> None:
    assert abs(cos("the cat of the house", "the car of the year")) < 0.45


def test_small_dimension_is_refused() -> None:
    with pytest.raises(EmbeddingError):
        HrrEmbedder(dim=8)
    with pytest.raises(EmbeddingError):
        EMBEDDER.embed("not a list")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=4))
def test_rows_are_unit_and_independent(texts: list[str]) -> None:
    vectors = EMBEDDER.embed(texts)
    assert vectors.shape == (len(texts), EMBEDDER.dim)
    assert np.all(np.isfinite(vectors))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for text, row in zip(texts, vectors, strict=True):
        assert np.array_equal(EMBEDDER.embed([text])[0], row)


def test_vectors_are_pinned_across_versions() -> None:
    """Stored memories keep their vectors: a change here makes old memories unreachable.

    If this fails, the token hashing, somagent.math.hrr's random draws or the recipe
    changed; stored collections must then be re-embedded (replay MemoryRemembered).
    """
    vector = HrrEmbedder().embed(["Remember the milk"])[0]
    assert np.round(vector[:4].astype(np.float64), 6).tolist() == [
        0.025773,
        -0.01487,
        -0.009837,
        -0.027497,
    ]
