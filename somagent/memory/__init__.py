"""somagent.memory: recall and gated remember over a vector store, with evidence blocks.

Public entry points (see ``docs/memory.md``):

* :class:`~somagent.memory.client.MemoryGatewayClient` – recall/remember from any role
  over the Memory Gateway's HTTP API; :class:`~somagent.memory.client.Recall` is the
  protocol it shares with :class:`~somagent.memory.recall.Recaller`
* :func:`~somagent.serve.memory.run_gateway` – ``somagent serve memory``, the one
  process that owns the store (HTTP app in :mod:`somagent.memory.gateway`)
* :class:`~somagent.memory.recall.Recaller` – ``await recall(tenant, query, top_k, capsule_ids)``
* :class:`~somagent.memory.remember.RememberDecider` – the remember-guard agent's logic
* :class:`~somagent.memory.remember.MemoryProjector` – applies memory events to the store
* :func:`~somagent.memory.store.open_store` – the store ``settings`` select: Qdrant Edge
  (:class:`~somagent.memory.edge_store.EdgeMemoryStore`, default), local mode or a server
* :class:`~somagent.memory.embedder.HrrEmbedder` – the default deterministic embedder
"""
