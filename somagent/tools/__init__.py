"""Tool registry, JSON-Schema validation, policy, circuit breaking and sandboxed execution.

Entry points for the turn engine: :class:`somagent.tools.registry.ToolRegistry`
(``with_builtins``), :class:`somagent.tools.broker.ToolBroker` (``invoke``) and
:func:`somagent.tools.policy.decide`.
"""
