"""The event contract as a pure leaf: ids, the typed envelope, event-type names.

* :mod:`somagent.contract.ids` — deterministic UUIDv5 ids (events, tool calls,
  usage, ledger rows, memories) and idempotency keys;
* :mod:`somagent.contract.envelope` — :class:`~somagent.contract.envelope.Envelope`
  and :func:`~somagent.contract.envelope.plain`;
* :mod:`somagent.contract.names` — the event types (``TURN_COMPLETED`` ...).

Imports nothing of the project and does no I/O (no clock, no randomness, no
environment); every other package may import it, and ``turns``, ``math`` and the
pure part of ``billing`` import nothing else (import-linter contracts in
``pyproject.toml``). The Avro encoding of the same contract is
:mod:`somagent.events`.
"""
