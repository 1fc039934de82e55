"""Async micro-batcher: coalesces concurrent requests into one predictor call.

Requests wait in a bounded queue. One dispatcher task (on the event loop)
takes the oldest request plus every queued request of the same kind that
fits the batch limits, and runs them as ONE call in a single dedicated
inference thread, so the event loop stays free for /healthz and /metrics and
handlers never fight over the cores. A request that arrives while the queue
is idle is dispatched at once: a fixed wait window would halve the
throughput of a single client. Batches grow by themselves under load, because
requests pile up while the previous batch runs; `max_wait_s` only adds a
short wait when other requests are already queued.

Admission is bounded twice: by the number of queued requests (`max_queue`)
and by time (`max_queue_delay_s`): a request whose estimated wait — the
batches and characters queued and running ahead of it, priced by a line
fitted to the recent batches (seconds = per batch + per character × chars) —
exceeds the budget is refused at once, so the requests that are accepted
during a burst still finish within a bounded latency.
"""
from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence, TypeVar

from kashif.model.settings import default_of
from kashif.serve.http.settings import ServeSettings

T = TypeVar("T")
Runner = Callable[[list[Any]], Sequence[Any]]


class QueueFull(Exception):
    """The queue is at its bound; the client should retry after `retry_after` seconds."""

    def __init__(self, retry_after: int, reason: str = "the inference queue is full") -> None:
        super().__init__(f"{reason}; retry after {retry_after} s")
        self.retry_after = retry_after


class BatcherClosed(Exception):
    """The server is shutting down and takes no new work."""


class BatchObserver(Protocol):
    def on_batch(self, kind: str, requests: int, units: int, seconds: float) -> None: ...

    def on_queue_depth(self, depth: int) -> None: ...

    def on_rejected(self, kind: str) -> None: ...

    def on_running(self, units: int) -> None: ...


class _NullObserver:
    def on_batch(self, kind: str, requests: int, units: int, seconds: float) -> None:
        pass

    def on_queue_depth(self, depth: int) -> None:
        pass

    def on_rejected(self, kind: str) -> None:
        pass

    def on_running(self, units: int) -> None:
        pass


@dataclass(eq=False)
class _Job:
    kind: str
    items: list[Any]
    chars: int
    future: asyncio.Future
    enqueued: float = field(default_factory=time.monotonic)


def _chars(item: Any) -> int:
    if isinstance(item, str):
        return len(item)
    if isinstance(item, (tuple, list)):
        return sum(len(part) for part in item if isinstance(part, str))
    return 1


class MicroBatcher:
    """Limits default to the server's (ServeSettings). `max_queue_delay_s` None: no time bound on admission."""

    def __init__(
        self,
        max_units: int = default_of(ServeSettings, "max_batch_units"),
        max_chars: int = default_of(ServeSettings, "max_batch_chars"),
        max_wait_s: float = default_of(ServeSettings, "max_wait_ms") / 1000,
        max_queue: int = default_of(ServeSettings, "max_queue"),
        observer: BatchObserver | None = None,
        max_queue_delay_s: float | None = None,
    ) -> None:
        if max_units < 1 or max_chars < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("batch limits and queue size must be positive")
        if max_queue_delay_s is not None and max_queue_delay_s <= 0:
            raise ValueError("max_queue_delay_s must be positive (or None: no time bound)")
        self.max_units = max_units
        self.max_chars = max_chars
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.max_queue_delay_s = max_queue_delay_s
        self._observer: BatchObserver = observer or _NullObserver()
        self._runners: dict[str, Runner] = {}
        self._queue: deque[_Job] = deque()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kashif-inference")
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self._recent: deque[tuple[int, float]] = deque(maxlen=64)  # (chars, seconds) of recent batches
        self._cost: tuple[float, float] | None = None  # fitted (seconds per batch, seconds per character)
        self._running_chars = 0
        self._running_since = 0.0

    # ---- lifecycle ---------------------------------------------------
    def set_runner(self, kind: str, runner: Runner) -> None:
        """`runner(items) -> results` (same length, same order), called in the inference thread."""
        self._runners[kind] = runner

    def start(self) -> None:
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._dispatch_loop(), name="kashif-batcher")

    async def close(self) -> None:
        """Stop taking new requests, finish every queued one, then stop the thread."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None:
            await self._task
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def depth(self) -> int:
        return len(self._queue)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` in the inference thread (model loading, warm-up)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def expected_wait(self, extra_chars: int = 0, extra_units: int = 1) -> float:
        """Estimated seconds until a new request of `extra_chars` characters is
        answered: the running batch's remainder, the queue ahead, and itself."""
        if self._cost is None:
            return 0.0  # nothing measured yet: no basis for refusing
        per_batch, per_char = self._cost
        running = 0.0
        if self._running_chars:
            running = max(0.0, per_batch + per_char * self._running_chars - (time.perf_counter() - self._running_since))
        units = extra_units + sum(len(job.items) for job in self._queue)
        chars = extra_chars + sum(job.chars for job in self._queue)
        return running + per_batch * math.ceil(units / self.max_units) + per_char * chars

    def _fit_cost(self) -> None:
        """Least-squares line through the recent (chars, seconds) batches, kept non-negative."""
        n = len(self._recent)
        mean_x = sum(x for x, _ in self._recent) / n
        mean_y = sum(y for _, y in self._recent) / n
        var = sum((x - mean_x) ** 2 for x, _ in self._recent)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in self._recent) / var if var > 0 else 0.0
        if slope <= 0:
            self._cost = (mean_y, 0.0)
        elif mean_y - slope * mean_x < 0:
            self._cost = (0.0, mean_y / mean_x)
        else:
            self._cost = (mean_y - slope * mean_x, slope)

    def refusal(self, kind: str, chars: int = 0) -> QueueFull | None:
        """The error refusing a new `kind` request of `chars` characters now — the
        queue is full, or work is ahead and the estimated wait is over
        `max_queue_delay_s` (a lone request is never refused) — or None if it
        would be admitted. A refusal is counted by the observer."""
        if not self._queue and not self._running_chars:
            return None
        if len(self._queue) >= self.max_queue:
            reason = f"the inference queue is full ({self.max_queue} requests)"
        elif self.max_queue_delay_s is not None and (wait := self.expected_wait(chars)) > self.max_queue_delay_s:
            reason = f"the server is busy: the estimated wait of {wait * 1000:.0f} ms is over the limit of {self.max_queue_delay_s * 1000:.0f} ms"
        else:
            return None
        self._observer.on_rejected(kind)
        return QueueFull(max(1, math.ceil(self.expected_wait())), reason)  # Retry-After: when the work ahead is done

    # ---- requests ----------------------------------------------------
    async def submit(self, kind: str, items: Sequence[Any], timeout: float | None = None) -> list[Any]:
        """Results for `items` in order. Raises QueueFull, BatcherClosed,
        TimeoutError, or the runner's exception for this request."""
        if self._closing or self._task is None:
            raise BatcherClosed("the server is shutting down")
        if kind not in self._runners:
            raise KeyError(f"no runner for {kind!r}")
        items = list(items)
        if not items:
            return []
        chars = sum(_chars(i) for i in items)
        refused = self.refusal(kind, chars)
        if refused is not None:
            raise refused
        job = _Job(kind, items, chars, asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self._observer.on_queue_depth(len(self._queue))
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            # wait_for cancels job.future on timeout or when the caller is cancelled
            # (client gone); the dispatcher then skips the job or drops its result.
            return await asyncio.wait_for(job.future, timeout)
        finally:
            if not job.future.done() or job.future.cancelled():
                self._discard(job)

    def _discard(self, job: _Job) -> None:
        try:
            self._queue.remove(job)
        except ValueError:
            return
        self._observer.on_queue_depth(len(self._queue))

    # ---- dispatch ----------------------------------------------------
    def _fill(self, batch: list[_Job], kind: str) -> None:
        units = sum(len(j.items) for j in batch)
        chars = sum(j.chars for j in batch)
        kept: deque[_Job] = deque()
        while self._queue:
            job = self._queue.popleft()
            if job.future.done():
                continue
            fits = job.kind == kind and units + len(job.items) <= self.max_units and chars + job.chars <= self.max_chars
            if fits:
                batch.append(job)
                units += len(job.items)
                chars += job.chars
            else:
                kept.append(job)
                if job.kind == kind:
                    break  # keep FIFO order within a kind
        kept.extend(self._queue)
        self._queue = kept

    def _take_batch(self) -> list[_Job]:
        while self._queue:
            head = self._queue.popleft()
            if not head.future.done():
                batch = [head]
                self._fill(batch, head.kind)
                return batch
        return []

    async def _dispatch_loop(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._take_batch()
            if not batch:
                self._observer.on_queue_depth(len(self._queue))
                continue
            if len(batch) > 1 and self.max_wait_s > 0 and sum(len(j.items) for j in batch) < self.max_units:
                await asyncio.sleep(self.max_wait_s)  # concurrent clients: let the batch fill a little more
                self._fill(batch, batch[0].kind)
            self._observer.on_queue_depth(len(self._queue))
            live = [job for job in batch if not job.future.done()]
            if not live:
                continue
            kind = live[0].kind
            chars = sum(job.chars for job in live)
            units = sum(len(job.items) for job in live)
            started = self._running_since = time.perf_counter()
            self._running_chars = chars
            self._observer.on_running(units)
            try:
                outcomes = await loop.run_in_executor(self._executor, self._run, kind, [job.items for job in live])
            finally:
                self._running_chars = 0
                self._observer.on_running(0)
            seconds = time.perf_counter() - started
            self._recent.append((chars, seconds))
            self._fit_cost()
            self._observer.on_batch(kind, len(live), units, seconds)
            for job, outcome in zip(live, outcomes):
                if job.future.done():
                    continue  # timed out or client gone while running: drop the result
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    def _run(self, kind: str, groups: list[list[Any]]) -> list[list[Any] | BaseException]:
        """In the inference thread: one call for all groups; if it fails, each
        group alone, so one bad request cannot fail the others."""
        runner = self._runners[kind]
        flat = [item for group in groups for item in group]
        try:
            results = list(runner(flat))
        except Exception as err:  # noqa: BLE001 - handed back to the requests
            if len(groups) == 1:
                return [err]
            outcomes: list[list[Any] | BaseException] = []
            for group in groups:
                try:
                    outcomes.append(list(runner(group)))
                except Exception as group_err:  # noqa: BLE001
                    outcomes.append(group_err)
            return outcomes
        outcomes = []
        offset = 0
        for group in groups:
            outcomes.append(results[offset : offset + len(group)])
            offset += len(group)
        return outcomes
