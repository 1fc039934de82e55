"""A lean HTTP/1.1 client on raw asyncio streams, for the burst measurement.

A burst from an httpx client costs that client about a millisecond of CPU per
request, on the same two cores as the server, which then shows up as server
latency. Here connections are opened before the clock starts, requests are
pre-encoded bytes, and a request's latency runs from its write to the last
byte of its response.
"""
from __future__ import annotations

import asyncio
import socket
import time
from typing import Sequence
from urllib.parse import urlsplit


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> "_Connection":
        reader, writer = await asyncio.open_connection(host, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def exchange(self, request: bytes, timeout: float) -> tuple[int, float]:
        """(status, seconds); status 0 = transport error or timeout."""
        started = time.perf_counter()
        try:
            self.writer.write(request)
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = next((int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")), 0)
            await asyncio.wait_for(self.reader.readexactly(length), timeout)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError):
            return 0, time.perf_counter() - started
        return status, time.perf_counter() - started

    def close(self) -> None:
        self.writer.close()


def post_requests(url: str, bodies: Sequence[bytes]) -> list[bytes]:
    parts = urlsplit(url)
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\nContent-Length: "
    return [f"{head}{len(body)}\r\n\r\n".encode("latin-1") + body for body in bodies]


async def _sequential(url: str, requests: Sequence[bytes], count: int, timeout: float) -> list[tuple[int, float]]:
    parts = urlsplit(url)
    conn = await _Connection.open(parts.hostname or "127.0.0.1", parts.port or 80)
    try:
        return [await conn.exchange(requests[i % len(requests)], timeout) for i in range(count)]
    finally:
        conn.close()


async def _burst(url: str, requests: Sequence[bytes], size: int, timeout: float) -> list[tuple[int, float]]:
    parts = urlsplit(url)
    conns = [await _Connection.open(parts.hostname or "127.0.0.1", parts.port or 80) for _ in range(size)]
    await asyncio.sleep(0.2)  # let the server accept every connection before the clock starts
    try:
        return list(await asyncio.gather(*(c.exchange(requests[i % len(requests)], timeout) for i, c in enumerate(conns))))
    finally:
        for c in conns:
            c.close()


def sequential(url: str, bodies: Sequence[bytes], count: int, timeout: float = 30.0) -> list[tuple[int, float]]:
    """`count` POSTs one after another on one kept-alive connection."""
    return asyncio.run(_sequential(url, post_requests(url, bodies), count, timeout))


def burst(url: str, bodies: Sequence[bytes], size: int, timeout: float = 60.0) -> list[tuple[int, float]]:
    """`size` POSTs written at the same moment, each on its own open connection."""
    return asyncio.run(_burst(url, post_requests(url, bodies), size, timeout))
