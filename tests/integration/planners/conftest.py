"""The session's llama-server for the planner tests (see ``llama_server_helpers``).

It does not need the Kafka stack: nothing here requests the ``stack`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_server_helpers import LlamaServer, running_llama_server


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with running_llama_server(tmp_path_factory.mktemp("llama-server")) as server:
        yield server
