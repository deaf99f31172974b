"""One real worker subprocess for the engine tests of this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from engine_helpers import Client, WorkerProcess, wait_for_worker

from somagent.config import Settings


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[Client]:
    c = Client(settings)
    yield c
    c.close()


@pytest.fixture(scope="module")
def worker(
    settings: Settings, client: Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(settings, tmp_path_factory.mktemp("engine-home"))
    # Snippets run in namespaces; this directory is the one host path they may write,
    # so a test can see a side effect (and count it).
    (proc.home / "effects").mkdir()
    proc.env["SOMAGENT_TOOL_SANDBOX_WRITABLE"] = str(proc.home / "effects")
    proc.start()
    try:
        wait_for_worker(client, proc)
        yield proc
    finally:
        proc.stop()
