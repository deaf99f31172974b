"""uvicorn's HTTP protocol with a deadline on reading a request's headers.

uvicorn closes idle keep-alive connections, but a client that connects and then
sends its request line and headers slowly (or never) is held for as long as it
likes: 200 such connections were held indefinitely. :class:`HeaderTimeoutProtocol`
closes a connection whose request headers are not complete within
``HEADER_TIMEOUT_S`` of the connection opening or of the request's first byte.
Bodies and streamed responses (SSE) are not limited by it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_S = 10.0


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that drops clients slow to send their headers."""

    header_timeout_s = HEADER_TIMEOUT_S

    def _arm(self) -> None:
        self._disarm()
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout_s, self._headers_late
        )

    def _disarm(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
