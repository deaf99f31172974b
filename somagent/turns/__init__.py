"""The turn state machine as pure functions (no I/O).

Public API: :mod:`somagent.turns.machine` (transitions and actions),
:mod:`somagent.turns.state` (``TurnState`` and its JSON form),
:mod:`somagent.turns.events` (usage records and prices),
:mod:`somagent.turns.request` (``TurnRequest``, ``request_from_event``),
:mod:`somagent.turns.planner` (``Planner``, ``DeterministicPlanner``),
:mod:`somagent.turns.verify` and :mod:`somagent.turns.pii`.
Imports nothing else from the project but ``somagent.contract`` (ids, envelope,
event-type names) and ``somagent.exceptions``.
"""
