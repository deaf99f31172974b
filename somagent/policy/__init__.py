"""The constitution: policies by hash, k-of-n activation, and OPA decisions at the gates.

* :mod:`.document` the policy document, its RFC 8785 hash and what OPA gets (pure);
* :mod:`.constitution` the constitution keys and activation signatures;
* :mod:`.projection` / :mod:`.registry` the Postgres read model of policy events;
* :mod:`.opa` OPA's REST API; :mod:`.service` register, sign, revoke, push;
* :mod:`.gate` the decision point the tool broker, the Memory Gateway and mint use;
* :mod:`.decision_log` OPA's decision logs into ``policy.decisions``.

See docs/policy.md.
"""
