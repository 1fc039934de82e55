"""Connection guard: a bounded read time per request and a bounded number of
open connections, in uvicorn's httptools protocol (below the ASGI app, where a
slow client is still only bytes on a socket).

* Read timeout. A request's deadline starts when the server starts waiting for
  it (the connection is accepted, or the first byte of a later request on a
  kept-alive connection arrives) and is never moved by more bytes, so trickling
  one byte at a time does not extend it. A request whose headers or body are
  not complete by then gets 408 in the API's JSON error shape and the socket is
  closed. Time in which the server itself stops reading (back-pressure,
  pipelined requests waiting their turn, an `Expect: 100-continue` body the
  app has not asked for yet) is not held against the client.
* Connection cap. A connection accepted while `max_connections` are open is
  answered with a pre-built 503 and closed at once, before anything is parsed.

Both are counted in /metrics (`kashif_read_timeouts_total{stage}`,
`kashif_refused_connections_total`, `kashif_open_connections`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kashif.serve.http.errors import error_body
from kashif.serve.http.metrics import ServerMetrics
from kashif.serve.http.middleware.request_id import READ_TIMED_OUT, REQUEST_ID_HEADER, sane_request_id

log = logging.getLogger("kashif.serve")

READ_TIMEOUT_CODE = "request_timeout"
TOO_MANY_CONNECTIONS_CODE = "too_many_connections"


def raw_error(status: int, reason: str, code: str, message: str, request_id: str | None = None,
              extra_headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete HTTP/1.1 error response (JSON error shape, `Connection: close`) as bytes."""
    body = json.dumps(error_body(code, message, request_id), ensure_ascii=False).encode("utf-8")
    headers = [("content-type", "application/json"), ("content-length", str(len(body))), ("connection", "close"), *extra_headers]
    if request_id:
        headers.append(("x-request-id", request_id))
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1") + body


def read_timeout_message(seconds: float) -> str:
    return f"the request did not arrive in full within {seconds:g} s (--read-timeout); the connection is closed"


def too_many_connections_message(limit: int) -> str:
    return f"the server has {limit} connections open (--max-connections); retry shortly"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the read deadline and the connection cap.
    Configured by `guarded_protocol`, which makes a subclass with the limits set."""

    read_timeout_s: float = 15.0
    max_connections: int = 512
    metrics: ServerMetrics | None = None
    refusal: bytes = b""  # the pre-built 503, made once per server

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False
        self._headers_done = False

    # ---- the connection cap ---------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refused = True
            self.transport = transport
            transport.write(self.refusal)
            transport.close()
            if self.metrics is not None:
                self.metrics.refused_connections.inc()
            return
        super().connection_made(transport)
        if self.metrics is not None:
            self.metrics.open_connections.inc()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._disarm()
        if self.metrics is not None:
            self.metrics.open_connections.dec()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)

    # ---- the read deadline ------------------------------------------------
    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout_s, self._on_deadline)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._headers_done = False
        self._arm()  # the first request's deadline started with the connection

    def on_headers_complete(self) -> None:
        self._headers_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _on_deadline(self) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        waiting_on_us = (self.flow is not None and self.flow.read_paused) or (  # back-pressure, or pipelined requests queued
            self._headers_done and self.cycle is not None and self.cycle.waiting_for_100_continue)  # the app has not asked for the body yet
        if waiting_on_us:  # not the client's delay
            self._deadline = self.loop.call_later(self.read_timeout_s, self._on_deadline)
            return
        stage = "body" if self._headers_done else "headers"
        if self.metrics is not None:
            self.metrics.read_timeouts.labels(stage).inc()
        cycle = self.cycle if self._headers_done else None
        if cycle is not None and cycle.response_started:
            # The app has answered already (e.g. 401 before reading the body); only the rest of the body is late.
            if cycle.response_complete:
                self.transport.close()
            else:
                cycle.keep_alive = False  # the answer in progress finishes, then the connection closes
            return
        request_id = self._request_id()
        log.info("request_id=%s read timeout: the request %s did not arrive within %g s; closing the connection",
                 request_id, stage, self.read_timeout_s)
        if cycle is not None:  # the app is waiting for the body: it now sees a disconnect, and its answer goes nowhere
            cycle.scope["state"][READ_TIMED_OUT] = True  # so that its log line and metrics say 408
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.write(raw_error(408, "Request Timeout", READ_TIMEOUT_CODE, read_timeout_message(self.read_timeout_s), request_id))
        self.transport.close()

    def _request_id(self) -> str:
        for name, value in self.headers or ():
            if name == REQUEST_ID_HEADER.encode():
                given = sane_request_id(value.decode("latin-1"))
                if given:
                    return given
        return uuid.uuid4().hex


def guarded_protocol(read_timeout_s: float, max_connections: int, metrics: ServerMetrics | None) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for `uvicorn.Config(http=...)` with these limits."""
    refusal = raw_error(503, "Service Unavailable", TOO_MANY_CONNECTIONS_CODE, too_many_connections_message(max_connections),
                        extra_headers=(("retry-after", "1"),))
    return type("KashifHttpProtocol", (GuardedHttpToolsProtocol,), {
        "read_timeout_s": read_timeout_s, "max_connections": max_connections, "metrics": metrics, "refusal": refusal,
    })
