"""Which tools a turn may use: the request's ``allow.tools`` ∩ the session policy (pure).

Everything requested but not allowed is denied with a stable reason code, to
be audited as ``PolicyDenied``:

* ``tool-not-registered`` – no tool of that name exists;
* ``tool-not-in-session-policy`` – the session's policy does not grant it;
* ``tool-denied-by-session`` – the session policy explicitly forbids it.

Tools granted by the session but not requested are simply not allowed (nothing
to deny). Order follows the request; duplicates collapse.

Per call, the broker also asks the session's constitution policy
(:class:`ToolPolicy`, decided by OPA): tool allowed, arguments allowed, and for
network tools every egress host on the policy's allow-list (:func:`egress_hosts`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit


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


# -- the constitution's gate (issue 16): per call, decided by OPA --------------------


@dataclass(frozen=True)
class PolicyRefusal:
    """A call the session's policy refused: ``code`` is the failed result's error code
    (``policy-denied``, or ``policy-unavailable`` when OPA did not answer)."""

    code: str
    message: str


class ToolPolicy(Protocol):
    """Decides one call by the session's policy (``somagent.policy.tool_gate``)."""

    async def check(self, *, tenant: str, session: str | None, turn_id: str, tool: str,
                    arguments: Mapping[str, Any], egress_hosts: Sequence[str]
                    ) -> PolicyRefusal | None: ...


def egress_hosts(url_arg: str | None, arguments: Mapping[str, Any]) -> list[str]:
    """The host a network tool's call reaches: the lower-cased host of the URL in
    argument ``url_arg`` (``[""]`` for a URL without one, so it is never allowed)."""
    if url_arg is None or url_arg not in arguments:
        return []
    host = urlsplit(str(arguments[url_arg])).hostname
    return [(host or "").lower()]
