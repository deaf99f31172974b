"""Logging for the platform's processes: one format, and repeated errors rate-limited.

During an outage every client retries in a loop, and each retry logs the same
line (librdkafka alone printed ~2,000 connection errors a second while Kafka
restarted). :class:`RepeatFilter` lets the first ``burst`` records of a kind
through in each ``window_s`` and counts the rest; the next record of that kind
after the window says how many were suppressed. A *kind* is the logger, the
level and the message with its digits masked, so "after 0ms" and "after 12ms"
are one kind, while different errors still get through.

librdkafka's own log goes through Python logging (logger ``librdkafka``, see
:func:`kafka_logger`) so the same filter applies to it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

_DIGITS = re.compile(r"\d+")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RepeatFilter(logging.Filter):
    """Pass at most ``burst`` records of a kind per ``window_s`` (see the module doc)."""

    def __init__(
        self,
        *,
        burst: int = 5,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        # kind -> (window start, passed in window, suppressed in window)
        self._kinds: dict[tuple[str, int, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, record.levelno, _DIGITS.sub("#", record.getMessage()))
        now = self._clock()
        with self._lock:
            start, passed, suppressed = self._kinds.get(kind, (now, 0, 0))
            if now - start >= self.window_s:
                if suppressed:
                    record.msg = f"{record.msg} [{suppressed} similar messages suppressed]"
                start, passed, suppressed = now, 0, 0
            if passed < self.burst:
                self._kinds[kind] = (start, passed + 1, suppressed)
                return True
            self._kinds[kind] = (start, passed, suppressed + 1)
            if len(self._kinds) > 10_000:  # bounded: forget the oldest windows
                for old in sorted(self._kinds, key=lambda k: self._kinds[k][0])[:5_000]:
                    del self._kinds[old]
            return False


def configure(level: int = logging.INFO) -> None:
    """A stderr handler with the project's format (unless the root has handlers already),
    and a :class:`RepeatFilter` on every root handler. Idempotent."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
        root.setLevel(level)
    install_filter()
    for noisy in ("httpx", "aiokafka.conn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def install_filter() -> None:
    """Add one shared :class:`RepeatFilter` to every root handler that has none (call it
    again after a framework such as Faust has set up its own handlers)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(_SHARED)


_SHARED = RepeatFilter()


def kafka_logger() -> logging.Logger:
    """The logger librdkafka's own messages go to (``logger`` in every client's config)."""
    return logging.getLogger("librdkafka")
