"""Local secrets shared by the platform's processes, kept under ``SOMAGENT_HOME/keys``.

Every process of one installation runs on one machine and reads the same files:

* ``keys/service.token``: the **service credential**. Platform roles present it to
  each other (turn workers and the edge to the Memory Gateway; projectors, replay
  and the ``sql`` tool to the analytics service's ClickHouse HTTP interface).
* ``keys/operator.token``: the **operator credential** for the analytics endpoint
  (read-only, every tenant's rows) and other operator surfaces.

Guarantees: each file is created once, race-free (``O_EXCL``), mode 0600, holding
a 256-bit random token (URL-safe base64, 43 characters); every later call in any
process returns the same token. :func:`matches` compares in constant time.

Processes that share no data directory (containers) get the tokens from the
environment instead: ``SOMAGENT_SERVICE_TOKEN`` and ``SOMAGENT_OPERATOR_TOKEN``
(at least 32 characters) win over the files.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from somagent.exceptions import ConfigError

SERVICE = "service"
OPERATOR = "operator"


def _token_file(home: Path, name: str) -> Path:
    return home / "keys" / f"{name}.token"


MIN_ENV_TOKEN_CHARS = 32


def local_token(home: Path, name: str) -> str:
    """``SOMAGENT_<NAME>_TOKEN`` if set, else the token stored as ``home/keys/<name>.token``,
    created on first use."""
    from_env = os.environ.get(f"SOMAGENT_{name.upper()}_TOKEN", "").strip()
    if from_env:
        if len(from_env) < MIN_ENV_TOKEN_CHARS:
            raise ConfigError(
                f"SOMAGENT_{name.upper()}_TOKEN must be at least {MIN_ENV_TOKEN_CHARS} characters"
            )
        return from_env
    path = _token_file(home, name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text().strip()
        if token:
            return token
        # A creator that has not written yet: wait for it by re-reading briefly.
        for _ in range(100):
            token = path.read_text().strip()
            if token:
                return token
            os.sched_yield()
        raise RuntimeError(f"{path} is empty; delete it to create a new token") from None
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def service_token(home: Path) -> str:
    """The service credential platform roles present to each other."""
    return local_token(home, SERVICE)


def operator_token(home: Path) -> str:
    """The operator credential (analytics: read-only over every tenant)."""
    return local_token(home, OPERATOR)


def matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented secret with the expected one."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))
