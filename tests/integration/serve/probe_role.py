"""A minimal role process for the supervisor tests: a real health endpoint, nothing else.

It reports unhealthy while a file ``unhealthy-<role>-<index>`` exists in its working
directory (the supervisor runs children in ``SOMAGENT_HOME``), so a test can make it
sick from outside; it exits on SIGTERM like every role does.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from somagent.serve.health import HealthServer


def main() -> None:
    server = HealthServer.from_env("probe")
    flag = Path(f"unhealthy-{server.role}-{server.instance}")

    def check() -> tuple[bool, str]:
        return (False, "told to be unhealthy") if flag.exists() else (True, "")

    server.add_check("probe", check)
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    Path(f"pid-{server.role}-{server.instance}").write_text(str(os.getpid()))
    done.wait()
    server.close()


if __name__ == "__main__":
    main()
