"""Process entry points: the roles (``somagent serve <role>``), their supervisor, the demo.

* :mod:`somagent.serve.supervisor` — ``serve platform``: every role as a supervised child;
* :mod:`somagent.serve.roles` — which roles run and how many of each;
* :mod:`somagent.serve.health` — the health endpoint every role process serves;
* :mod:`somagent.serve.commands` — ``serve worker|projector|billing|all`` and ``demo``;
* :mod:`somagent.serve.worker` — assembling a worker process (Faust app, agents, adapters);
* :mod:`somagent.serve.platform` — ``serve all``: every role in one process (small machines);
* :mod:`somagent.serve.demo` — one real turn through the running platform;
* :mod:`somagent.serve.readiness` — asking a running edge whether it is ready.

Library code never imports this package; it imports the libraries.
"""
