"""somagent.memory: recall and gated remember over Qdrant, with evidence blocks.

Public entry points (see ``docs/memory.md``):

* :class:`~somagent.memory.recall.Recaller` – ``await recall(tenant, query, top_k, capsule_ids)``
* :class:`~somagent.memory.remember.RememberDecider` – the remember-guard agent's logic
* :class:`~somagent.memory.remember.MemoryProjector` – applies memory events to Qdrant
* :func:`~somagent.memory.store.open_store` – the Qdrant collection ``settings`` points at
* :class:`~somagent.memory.embedder.HrrEmbedder` – the default deterministic embedder
"""
