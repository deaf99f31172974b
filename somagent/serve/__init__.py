"""Process entry points: the ``somagent serve ...`` commands and ``somagent demo``.

* :mod:`somagent.serve.commands` — ``serve worker|projector|billing|all`` and ``demo``;
* :mod:`somagent.serve.worker` — assembling a worker process (Faust app, agents, adapters);
* :mod:`somagent.serve.platform` — ``serve all``: every role in one process;
* :mod:`somagent.serve.demo` — one real turn through the running platform;
* :mod:`somagent.serve.readiness` — asking a running edge whether it is ready.

Library code never imports this package; it imports the libraries.
"""
