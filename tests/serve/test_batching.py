"""The micro-batcher on its own: coalescing, order, cancellation, error isolation,
back-pressure, draining. Runners are plain functions gated by an Event so the
test decides when inference "finishes"; one test runs the real tiny Predictor."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from kashif.model.predictor import Predictor, PredictorConfig
from kashif.serve.http.batching import BatcherClosed, MicroBatcher, QueueFull
from kashif.serve.http.settings import ServeSettings


class Recorder:
    """BatchObserver that remembers every batch."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, int, int]] = []
        self.depths: list[int] = []
        self.rejected = 0
        self.running: list[int] = []

    def on_batch(self, kind: str, requests: int, units: int, seconds: float) -> None:
        self.batches.append((kind, requests, units))

    def on_queue_depth(self, depth: int) -> None:
        self.depths.append(depth)

    def on_rejected(self, kind: str) -> None:
        self.rejected += 1

    def on_running(self, units: int) -> None:
        self.running.append(units)


class GatedRunner:
    """Upper-cases items; waits for `gate` first, and fails on the item "bad"."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = 0  # calls that reached the runner (the first one then blocks on the gate)
        self.calls: list[list[str]] = []

    def __call__(self, items: list[str]) -> list[str]:
        self.entered += 1
        self.gate.wait(30)
        self.calls.append(list(items))
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]


async def _until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def _batcher(runner, **kwargs) -> tuple[MicroBatcher, Recorder]:
    recorder = Recorder()
    batcher = MicroBatcher(observer=recorder, **kwargs)
    batcher.set_runner("upper", runner)
    batcher.start()
    return batcher, recorder


def test_queued_requests_coalesce_in_order_and_a_lone_one_does_not_wait():
    async def scenario():
        runner = GatedRunner()
        batcher, recorder = _batcher(runner, max_units=64, max_wait_s=0.0)
        first = asyncio.create_task(batcher.submit("upper", ["a"]))
        await _until(lambda: runner.entered == 1)  # dispatched, blocked in the runner
        rest = [asyncio.create_task(batcher.submit("upper", [f"x{i}", f"y{i}"])) for i in range(5)]
        await _until(lambda: batcher.depth == 5)
        runner.gate.set()
        assert await first == ["A"]
        assert await asyncio.gather(*rest) == [[f"X{i}", f"Y{i}"] for i in range(5)]
        assert recorder.batches == [("upper", 1, 1), ("upper", 5, 10)]
        assert recorder.running == [1, 0, 10, 0]  # the units of each running call, 0 between calls
        assert runner.calls[1] == [s for i in range(5) for s in (f"x{i}", f"y{i}")]
        await batcher.close()

    asyncio.run(scenario())


def test_lone_request_is_dispatched_at_once_despite_a_long_max_wait():
    async def scenario():
        runner = GatedRunner()
        runner.gate.set()
        batcher, _ = _batcher(runner, max_wait_s=60.0)
        assert await asyncio.wait_for(batcher.submit("upper", ["solo"]), 10) == ["SOLO"]
        await batcher.close()

    asyncio.run(scenario())


def test_batches_respect_unit_and_char_limits():
    async def scenario():
        runner = GatedRunner()
        batcher, recorder = _batcher(runner, max_units=8, max_chars=1000, max_wait_s=0.0)
        blocker = asyncio.create_task(batcher.submit("upper", ["z"]))
        await _until(lambda: runner.entered == 1)  # dispatched, blocked in the runner
        jobs = [asyncio.create_task(batcher.submit("upper", ["a", "b", "c"])) for _ in range(3)]
        jobs.append(asyncio.create_task(batcher.submit("upper", ["q" * 600])))
        jobs.append(asyncio.create_task(batcher.submit("upper", ["r" * 600])))
        await _until(lambda: batcher.depth == 5)
        runner.gate.set()
        await asyncio.gather(blocker, *jobs)
        # 3 jobs of 3 units pass 8 units; "q"*600 and "r"*600 together pass 1000 characters
        assert [units for _, _, units in recorder.batches] == [1, 6, 4, 1]
        await batcher.close()

    asyncio.run(scenario())


def test_cancelled_and_timed_out_requests_do_not_poison_the_batch():
    async def scenario():
        runner = GatedRunner()
        batcher, recorder = _batcher(runner, max_wait_s=0.0)
        blocker = asyncio.create_task(batcher.submit("upper", ["first"]))
        await _until(lambda: runner.entered == 1)  # dispatched, blocked in the runner
        keep1 = asyncio.create_task(batcher.submit("upper", ["k1"]))
        gone = asyncio.create_task(batcher.submit("upper", ["gone"]))  # the client disconnects
        late = asyncio.create_task(batcher.submit("upper", ["late"], timeout=0.05))
        keep2 = asyncio.create_task(batcher.submit("upper", ["k2"]))
        await _until(lambda: batcher.depth == 4)
        gone.cancel()
        with pytest.raises(TimeoutError):
            await late
        assert batcher.depth == 2  # both left the queue
        runner.gate.set()
        assert await blocker == ["FIRST"]
        assert await keep1 == ["K1"] and await keep2 == ["K2"]
        assert gone.cancelled()
        assert runner.calls[1] == ["k1", "k2"]
        await batcher.close()

    asyncio.run(scenario())


def test_a_failing_request_fails_alone():
    async def scenario():
        runner = GatedRunner()
        batcher, recorder = _batcher(runner, max_wait_s=0.0)
        blocker = asyncio.create_task(batcher.submit("upper", ["first"]))
        await _until(lambda: runner.entered == 1)  # dispatched, blocked in the runner
        jobs = [asyncio.create_task(batcher.submit("upper", [item])) for item in ("ok1", "bad", "ok2")]
        await _until(lambda: batcher.depth == 3)
        runner.gate.set()
        outcomes = await asyncio.gather(blocker, *jobs, return_exceptions=True)
        assert outcomes[0] == ["FIRST"] and outcomes[1] == ["OK1"] and outcomes[3] == ["OK2"]
        assert isinstance(outcomes[2], ValueError)
        assert await batcher.submit("upper", ["after"]) == ["AFTER"]
        await batcher.close()

    asyncio.run(scenario())


def test_full_queue_refuses_at_once_with_retry_after():
    async def scenario():
        runner = GatedRunner()
        batcher, recorder = _batcher(runner, max_queue=2, max_wait_s=0.0)
        blocker = asyncio.create_task(batcher.submit("upper", ["first"]))
        await _until(lambda: runner.entered == 1)  # dispatched, blocked in the runner
        queued = [asyncio.create_task(batcher.submit("upper", [f"q{i}"])) for i in range(2)]
        await _until(lambda: batcher.depth == 2)
        with pytest.raises(QueueFull) as refused:
            await batcher.submit("upper", ["one too many"])
        assert refused.value.retry_after >= 1 and recorder.rejected == 1
        runner.gate.set()
        assert await asyncio.gather(blocker, *queued) == [["FIRST"], ["Q0"], ["Q1"]]
        assert await batcher.submit("upper", ["again"]) == ["AGAIN"]  # recovered by itself
        await batcher.close()

    asyncio.run(scenario())


class PacedRunner(GatedRunner):
    """A GatedRunner that also takes 1 ms per character, so the batcher can measure a rate."""

    def __call__(self, items: list[str]) -> list[str]:
        time.sleep(0.001 * sum(len(item) for item in items))
        return super().__call__(items)


def test_time_bound_refuses_what_would_wait_too_long_but_never_a_lone_request():
    async def scenario():
        runner = PacedRunner()
        runner.gate.set()
        batcher, recorder = _batcher(runner, max_wait_s=0.0, max_queue_delay_s=0.3)
        assert batcher.expected_wait(10_000) == 0.0  # nothing measured yet: no basis for refusing
        assert await batcher.submit("upper", ["a" * 50]) == ["A" * 50]
        assert await batcher.submit("upper", ["a" * 150]) == ["A" * 150]  # two sizes: a line of ~1 ms per character
        assert 0.35 < batcher.expected_wait(400) < 0.8
        # idle: even a request estimated far over the bound is served (a lone request is never refused)
        assert batcher.refusal("upper", 2_000) is None and recorder.rejected == 0

        runner.gate.clear()
        blocker = asyncio.create_task(batcher.submit("upper", ["b" * 50]))
        await _until(lambda: runner.entered == 3)  # running, held at the gate
        admitted = asyncio.create_task(batcher.submit("upper", ["c" * 100]))  # ≤ 0.05 + 0.1 + 0.1 s ahead of it
        await _until(lambda: batcher.depth == 1)
        with pytest.raises(QueueFull) as refused:  # 100 queued + 300 of its own ≈ 0.4 s > 0.3 s
            await batcher.submit("upper", ["d" * 300])
        assert "estimated wait" in str(refused.value) and "300 ms" in str(refused.value)
        assert refused.value.retry_after >= 1 and recorder.rejected == 1
        runner.gate.set()
        assert await asyncio.gather(blocker, admitted) == [["B" * 50], ["C" * 100]]
        await batcher.close()

    asyncio.run(scenario())


def test_close_drains_queued_requests_then_refuses_new_ones():
    async def scenario():
        runner = GatedRunner()
        batcher, _ = _batcher(runner, max_units=1, max_wait_s=0.0)
        jobs = [asyncio.create_task(batcher.submit("upper", [f"j{i}"])) for i in range(4)]
        await _until(lambda: batcher.depth == 3)
        closing = asyncio.create_task(batcher.close())
        await asyncio.sleep(0.01)
        with pytest.raises(BatcherClosed):
            await batcher.submit("upper", ["new"])
        runner.gate.set()
        await closing
        assert [await job for job in jobs] == [[f"J{i}"] for i in range(4)]

    asyncio.run(scenario())


def test_kinds_are_batched_separately_with_the_real_predictor(tiny_bundle_dir, arabic_sentences):
    # fp32: exact equality across batch compositions (bf16 holds it only up to rounding)
    predictor = Predictor.from_refs(str(tiny_bundle_dir), config=PredictorConfig(precision="fp32"))
    texts = arabic_sentences[:6]
    want_entities = predictor.entities(texts)
    want_stance = predictor.stance([(t, "القاهرة") for t in texts])

    async def scenario():
        recorder = Recorder()
        batcher = MicroBatcher(observer=recorder, max_wait_s=0.0)
        batcher.set_runner("entities", predictor.entities)
        batcher.set_runner("stance", predictor.stance)
        batcher.start()
        jobs = []
        for t in texts:
            jobs.append(batcher.submit("entities", [t]))
            jobs.append(batcher.submit("stance", [(t, "القاهرة")]))
        results = await asyncio.gather(*jobs)
        await batcher.close()
        return results, recorder

    results, recorder = asyncio.run(scenario())
    got_entities = [r[0] for r in results[0::2]]
    got_stance = [r[0] for r in results[1::2]]
    assert [[(e.start, e.end, e.label) for e in doc] for doc in got_entities] == [[(e.start, e.end, e.label) for e in doc] for doc in want_entities]
    assert [s.label for s in got_stance] == [s.label for s in want_stance]
    assert {kind for kind, _, _ in recorder.batches} == {"entities", "stance"}
    assert any(requests > 1 for _, requests, _ in recorder.batches), recorder.batches
    assert sum(units for kind, _, units in recorder.batches if kind == "entities") == len(texts)


def test_the_batcher_takes_its_default_limits_from_the_settings():
    batcher, settings = MicroBatcher(), ServeSettings()
    assert (batcher.max_units, batcher.max_chars, batcher.max_queue) == (settings.max_batch_units, settings.max_batch_chars, settings.max_queue)
    assert batcher.max_wait_s == settings.max_wait_ms / 1000
