"""The Memory Gateway's indexer: runs Qdrant Edge's optimizer now and then.

Qdrant Edge has no background optimizer: new memories stay in an appendable
segment (searched exactly) until someone calls ``optimize()``, which builds HNSW
graphs for segments over the indexing threshold and merges small ones. This
thread calls it every ``interval_s`` seconds; a call with nothing to do returns at
once. The bindings hold the GIL during an optimize pass, so the whole gateway
(recall included) waits while a graph is built; the pass time is recorded in
``somagent_memory_optimize_duration_seconds`` and logged when it did work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Indexer:
    """Calls ``optimize`` (True when it changed the index) every ``interval_s`` seconds.

    ``observe`` receives each pass's duration in seconds. Failures are logged and
    retried at the next interval; they never stop the thread.
    """

    def __init__(
        self,
        optimize: Callable[[], bool],
        *,
        interval_s: float = 10.0,
        observe: Callable[[float], None] = lambda _s: None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self._optimize = optimize
        self.interval_s = interval_s
        self._observe = observe
        self._stop = threading.Event()
        self.passes = 0
        self._thread = threading.Thread(target=self._run, name="memory-indexer", daemon=True)

    def run_once(self) -> bool:
        """One optimize pass now (also used before the gateway starts serving)."""
        started = time.perf_counter()
        changed = self._optimize()
        elapsed_s = time.perf_counter() - started
        self._observe(elapsed_s)
        self.passes += 1
        if changed:
            log.info("memory indexer: optimize pass changed the index in %.2f s", elapsed_s)
        return changed

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:
                log.exception("memory indexer: optimize failed; next in %.0f s", self.interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 600.0) -> None:
        """Stop after the current pass (an HNSW build cannot be interrupted)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
