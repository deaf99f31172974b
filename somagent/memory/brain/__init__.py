"""SomaBrain in the Memory Gateway: context bundles scored beyond cosine, tuned by feedback.

* :mod:`~somagent.memory.brain.structure` — 8,192-dimensional HRR records of recalled
  memories (role–filler pairs superposed with the lifted semantic vector), queried by
  unbinding;
* :mod:`~somagent.memory.brain.density` — per tenant and capsule density matrices ρ;
* :mod:`~somagent.memory.brain.graph` — FRGO: the co-use graph with conductances;
* :mod:`~somagent.memory.brain.features` — the six features of every candidate;
* :mod:`~somagent.memory.brain.tuner` — utility weights, feedback steps and rollback;
* :mod:`~somagent.memory.brain.bundle` — the ContextBundle and its prompt;
* :mod:`~somagent.memory.brain.service` — :class:`Brain`: evaluate and feedback.

Formulas and measured effects: ``docs/brain.md``.
"""
