"""The turn state machine as pure functions (no I/O).

Public API: :mod:`somagent.turns.machine` (transitions and actions),
:mod:`somagent.turns.state` (``TurnState`` and its JSON form),
:mod:`somagent.turns.events` (event records), :mod:`somagent.turns.ids`,
:mod:`somagent.turns.request` (``TurnRequest``, ``request_from_event``),
:mod:`somagent.turns.planner` (``Planner``, ``DeterministicPlanner``),
:mod:`somagent.turns.verify` and :mod:`somagent.turns.pii`.
Imports nothing else from the project except ``somagent.exceptions``.
"""
