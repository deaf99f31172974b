"""The semantic embedder: the Embedder contract, batching, and meaning over words."""

from __future__ import annotations

import numpy as np
import pytest

from somagent.memory.embedder import Embedder
from somagent.memory.exceptions import EmbeddingError
from somagent.memory.semantic import MiniLmEmbedder


@pytest.fixture(scope="module")
def model() -> MiniLmEmbedder:
    return MiniLmEmbedder()


def test_contract_and_batching(model: MiniLmEmbedder) -> None:
    assert isinstance(model, Embedder) and model.dim == 384
    texts = ["The cat sat on the mat.", "x", "A much longer sentence about invoices " * 5, ""]
    batch = model.embed(texts)
    assert batch.shape == (4, 384) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([model.embed([t])[0] for t in texts])
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)
    with pytest.raises(EmbeddingError):
        model.embed("a single string")  # type: ignore[arg-type]


def test_paraphrases_are_closer_than_word_overlap(model: MiniLmEmbedder) -> None:
    fact, paraphrase, same_words = model.embed([
        "Priya cannot eat peanuts without a bad reaction.",
        "Which food must Priya stay away from?",
        "Priya reacted badly to the news about the bad weather.",
    ])
    assert float(fact @ paraphrase) > float(fact @ same_words)
