"""The Faust billing agent as a child process, for the billing integration tests."""

from __future__ import annotations

from pathlib import Path

from integration.engine.engine_helpers import WorkerProcess

from somagent.config import Settings
from somagent.events.catalog import BILLING_USAGE


class FaustBilling:
    """``somagent serve billing --engine faust`` as a child process (SIGKILL-able).

    Its consumer group starts at the end of ``billing.usage``: usage the other
    engine already billed is not billed twice (two engines' rows for one window
    would share event ids but not necessarily content).
    """

    def __init__(self, settings: Settings, home: Path) -> None:
        self.proc = WorkerProcess(
            settings,
            home,
            role=("serve", "billing", "--engine", "faust", "--group", "{group}"),
            topics=(BILLING_USAGE,),
        )

    @property
    def errors(self) -> list[BaseException]:
        alive = self.proc.proc is not None and self.proc.proc.poll() is None
        return [] if alive else [RuntimeError(f"billing agent exited:\n{self.proc.tail()}")]
