"""The engine: Faust agents and the turn driver (thin: decode, call pure logic, emit).

* :mod:`somagent.engine.app` — the Faust app every agent registers on;
* :mod:`somagent.engine.turns` — the ``turns`` agent over ``conversation.events``;
* :mod:`somagent.engine.driver` — drives one turn through the pure machine
  (:mod:`somagent.turns`), performing the I/O it asks for;
* :mod:`somagent.engine.memory` — the ``memory`` agent (remember-guard and projector);
* :mod:`somagent.engine.faust_codec` — the ``"somagent-avro"`` Faust codec and the
  dead-lettering :class:`~somagent.engine.faust_codec.EventTopic`.

The billing agent lives with the rest of billing (:mod:`somagent.billing.agent`).
Processes are assembled in :mod:`somagent.serve`.
"""
