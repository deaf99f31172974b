"""The master key that wraps every tenant's data key.

``SOMAGENT_MASTER_TOKEN`` (URL-safe base64 of 32 bytes) wins; otherwise
``SOMAGENT_HOME/keys/master.token``, created once (mode 0600, race-free) by the
same code as the service and operator credentials (:mod:`somagent.credentials`).
Losing it makes every tenant's sealed data unreadable; rotating it needs every
wrapped key re-wrapped (not built).
"""

from __future__ import annotations

import base64
from pathlib import Path

from somagent.credentials import local_token
from somagent.exceptions import ConfigError

MASTER = "master"


def master_key(home: Path) -> bytes:
    """The 32-byte master key (see the module doc).

    Raises:
        ConfigError: the configured value does not decode to exactly 32 bytes.
    """
    token = local_token(home, MASTER)
    try:
        key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError as exc:
        raise ConfigError("SOMAGENT_MASTER_TOKEN is not URL-safe base64") from exc
    if len(key) != 32:
        raise ConfigError(f"the master key must be 32 bytes, got {len(key)} "
                          "(SOMAGENT_MASTER_TOKEN or keys/master.token)")
    return key
