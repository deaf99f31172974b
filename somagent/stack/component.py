"""What every stack component looks like to ``up``, ``down`` and ``status``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ComponentStatus:
    """One line of ``somagent status``.

    ``version`` is what the server itself reported (``None`` when unreachable);
    ``pid`` is None for external servers and in-process engines.
    """

    name: str
    mode: str  # "local" (started by the stack), "embedded" (in-process), "external"
    address: str
    healthy: bool
    version: str | None = None
    pid: int | None = None
    detail: str = ""
    # Platform roles only: restarts by the supervisor, consumer lag per topic.
    restarts: int | None = None
    lag: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Component(Protocol):
    """A server of the stack. ``start`` is idempotent and returns once the server is ready."""

    name: str

    @property
    def external(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> bool: ...

    def status(self) -> ComponentStatus: ...
