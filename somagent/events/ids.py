"""Moved to :mod:`somagent.contract.ids`; this alias exists only for ``somagent.memory``.

``somagent/memory`` is being rewritten on another branch, so its two imports of
this module are left for the merge (``from somagent.contract import ids``); then
delete this file. Nothing else may import it.
"""

from somagent.contract.ids import memory_event_id as memory_event_id
from somagent.contract.ids import memory_id as memory_id
