"""Which tools a turn may use: the request's ``allow.tools`` ∩ the session policy (pure).

Everything requested but not allowed is denied with a stable reason code, to
be audited as ``PolicyDenied``:

* ``tool-not-registered`` – no tool of that name exists;
* ``tool-not-in-session-policy`` – the session's policy does not grant it;
* ``tool-denied-by-session`` – the session policy explicitly forbids it.

Tools granted by the session but not requested are simply not allowed (nothing
to deny). Order follows the request; duplicates collapse.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SessionPolicy:
    """A session's tool grant. ``allowed_tools`` None grants every registered tool."""

    allowed_tools: frozenset[str] | None = None
    denied_tools: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Denial:
    tool: str
    reason_code: str
    detail: str


@dataclass(frozen=True)
class PolicyDecision:
    allowed: tuple[str, ...]
    denied: tuple[Denial, ...]


def decide(
    requested: Iterable[str], session: SessionPolicy, registered: Collection[str]
) -> PolicyDecision:
    """Split ``requested`` into allowed tools and denials (see module doc)."""
    allowed: list[str] = []
    denied: list[Denial] = []
    for tool in dict.fromkeys(requested):
        if tool not in registered:
            denied.append(Denial(tool, "tool-not-registered", f"no tool named {tool!r}"))
        elif tool in session.denied_tools:
            denied.append(
                Denial(tool, "tool-denied-by-session", f"session policy forbids {tool!r}")
            )
        elif session.allowed_tools is not None and tool not in session.allowed_tools:
            denied.append(
                Denial(
                    tool,
                    "tool-not-in-session-policy",
                    f"session policy grants {sorted(session.allowed_tools)}, not {tool!r}",
                )
            )
        else:
            allowed.append(tool)
    return PolicyDecision(tuple(allowed), tuple(denied))
