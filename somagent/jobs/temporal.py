"""Reaching the Temporal server: one place that knows its address and namespace.

``SOMAGENT_TEMPORAL_ADDRESS`` names an external cluster; otherwise the local dev server
the stack starts (``temporal server start-dev``) on ``SOMAGENT_TEMPORAL_PORT``. Every
failure to reach it is raised as :class:`~somagent.jobs.exceptions.JobsUnavailable`
naming the address.
"""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import timedelta

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from somagent.config import Settings
from somagent.jobs.exceptions import JobsUnavailable


def identity(role: str) -> str:
    """What Temporal records as the client or worker: role, host and pid."""
    return f"somagent-{role}@{socket.gethostname()}:{os.getpid()}"


async def connect(settings: Settings, *, role: str = "client", timeout_s: float = 10.0) -> Client:
    """A client of the settings' namespace (raises :class:`JobsUnavailable`)."""
    try:
        return await asyncio.wait_for(
            Client.connect(
                settings.temporal_target,
                namespace=settings.temporal_namespace,
                identity=identity(role),
                connect_timeout=timedelta(seconds=timeout_s),
            ),
            timeout_s + 1.0,
        )
    except Exception as exc:
        raise JobsUnavailable(
            f"temporal at {settings.temporal_target} (namespace {settings.temporal_namespace}) "
            f"is unreachable: {exc}"
        ) from exc


async def server_version(settings: Settings, *, timeout_s: float = 3.0) -> str:
    """The server's own version (GetSystemInfo), e.g. ``1.29.1``."""
    client = await connect(settings, role="status", timeout_s=timeout_s)
    try:
        info = await client.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=timeout_s)
        )
    except Exception as exc:
        raise JobsUnavailable(
            f"temporal at {settings.temporal_target} did not answer GetSystemInfo: {exc}"
        ) from exc
    return str(info.server_version)


def server_version_blocking(settings: Settings, *, timeout_s: float = 3.0) -> str:
    """:func:`server_version` for synchronous callers (the stack, ``somagent status``)."""
    return asyncio.run(server_version(settings, timeout_s=timeout_s))
