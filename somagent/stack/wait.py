"""Moved to :mod:`somagent.wait`; this alias exists only for ``somagent.memory.remember``.

``somagent/memory`` is being rewritten on another branch, so its import of this
module is left for the merge (``from somagent.wait import until_async``); then
delete this file and the matching ``ignore_imports`` line in pyproject.toml.
"""

from somagent.wait import until_async as until_async
