"""Fixtures of the jobs tests: the real stack (with its Temporal dev server), a turn
engine and a jobs worker as child processes, and the edge in a thread. The two roles
are stopped as soon as the last test of this directory is done (``pytest_runtest_teardown``
below; pytest's ``package`` scope does not apply to a directory without ``__init__``): a
turn engine left running would drive the turns of later tests a second time, in its own
consumer group."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from jobs_helpers import Caller, Edge, Role, new_caller, start_edge, turn_worker
from jobs_helpers import role as jobs_role

from somagent.stack.stack import RunningStack


@pytest.fixture(scope="session")
def roles_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs-roles")


@pytest.fixture(scope="session")
def effects_root(roles_home: Path) -> Path:
    """The one host directory the python tool's sandboxed snippets may write."""
    root = roles_home / "effects"
    root.mkdir()
    return root


@pytest.fixture
def effects_dir(effects_root: Path) -> Path:
    """A directory of this test's own inside :func:`effects_root`."""
    path = effects_root / uuid.uuid4().hex
    path.mkdir()
    return path


HERE = Path(__file__).parent
_ROLES: list[Role] = []


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is None or HERE not in nextitem.path.parents:
        for started in _ROLES:
            started.stop()


@pytest.fixture(scope="session")
def turns(stack: RunningStack, roles_home: Path) -> Iterator[Role]:
    role = turn_worker(stack.settings, roles_home).start()
    _ROLES.append(role)
    yield role
    role.stop()


@pytest.fixture(scope="session")
def jobs_worker(
    stack: RunningStack, roles_home: Path, effects_root: Path, turns: Role
) -> Iterator[Role]:
    env = {"SOMAGENT_TOOL_SANDBOX_WRITABLE": str(effects_root)}
    role = jobs_role(stack.settings, roles_home, "jobs", env).start()
    _ROLES.append(role)
    yield role
    role.stop()


@pytest.fixture(scope="session")
def edge(stack: RunningStack, jobs_worker: Role) -> Iterator[Edge]:
    server = start_edge(stack.settings)
    yield server
    server.stop()


@pytest.fixture
async def http(edge: Edge) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=edge.url, timeout=60.0) as client:
        yield client


@pytest.fixture
async def caller(stack: RunningStack, http: httpx.AsyncClient) -> Caller:
    return await new_caller(stack.settings, http)
