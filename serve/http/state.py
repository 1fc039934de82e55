"""The service's state (settings, metrics, batcher, the loaded models) and its lifecycle:
the models load in the background at startup, and inference drains at shutdown."""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable

from kashif.model.loading import BUNDLED_DIR
from kashif.model.messages import first_line
from kashif.model.predictor import Predictor
from kashif.model.tasks import answer_of_task
from kashif.serve.http.batching import MicroBatcher
from kashif.serve.http.disclosure import redact_paths
from kashif.serve.http.inference_process import PredictorProcess, warm_up
from kashif.serve.http.metrics import ServerMetrics
from kashif.serve.http.settings import ServeSettings

log = logging.getLogger("kashif.serve")
STATIC_DIR = Path(__file__).resolve().parent / "static"  # the demo page


@dataclass
class ServiceState:
    settings: ServeSettings
    metrics: ServerMetrics
    batcher: MicroBatcher
    predictor: Predictor | PredictorProcess | None = None
    models: dict[str, dict] = field(default_factory=dict)  # task → the predictor's info(), set once loaded
    ready: bool = False
    load_error: str | None = None
    static_dir: Path = STATIC_DIR
    on_fatal: Callable[[], None] | None = None  # set by the CLI: stop the server when loading fails
    _loader: asyncio.Task | None = field(default=None, repr=False)

    @property
    def tasks(self) -> list[str]:
        return list(self.models)

    @property
    def public_load_error(self) -> str | None:
        """The load error as clients see it: without the server's paths (the log keeps them)."""
        if self.load_error is None:
            return None
        s = self.settings
        known = [*s.references().values(), str(BUNDLED_DIR)]
        with contextlib.suppress(Exception):
            known += s.resolve().values()
        return redact_paths(self.load_error, [k for k in known if k])


def new_state(settings: ServeSettings) -> ServiceState:
    """The state of a server with these settings, before its models load."""
    metrics = ServerMetrics()
    batcher = MicroBatcher(
        settings.max_batch_units, settings.max_batch_chars, settings.max_wait_ms / 1000, settings.max_queue,
        observer=metrics, max_queue_delay_s=settings.max_queue_delay_s,
    )
    return ServiceState(settings=settings, metrics=metrics, batcher=batcher)


async def load_models(state: ServiceState, predictor: Predictor | None) -> None:
    """Load (unless given) and warm up the models — in a child process, or with
    `--inference thread` in the inference thread — then report ready."""
    s = state.settings
    try:
        if predictor is None and s.inference == "process":  # the child loads and warms up the models itself
            predictor = await state.batcher.call(
                PredictorProcess, s.references(), s.predictor, s.warmup, state.metrics.inference_restarts.inc,
            )
        else:
            if predictor is None:
                predictor = await state.batcher.call(functools.partial(Predictor.from_refs, config=s.predictor, **s.references()))
            if s.warmup:
                await state.batcher.call(warm_up, predictor)
    except Exception as err:  # noqa: BLE001 - any load failure is reported, not raised into the loop
        state.load_error = first_line(err)
        log.error("cannot load the models: %s", state.load_error)
        if state.on_fatal is not None:
            state.on_fatal()
        return
    state.predictor = predictor
    info = state.models = predictor.info()
    for task in info:  # the batcher's kinds are the answer names (the metrics' `task` label)
        state.batcher.set_runner(answer_of_task(task), functools.partial(predictor.run, task))
    state.metrics.set_models(info)
    state.metrics.ready.set(1)
    state.ready = True
    log.info("ready: %s", ", ".join(f"{task} {entry['name']}@{entry['digest']} from {entry['source']}, {entry['backend']} "
                                    f"{entry['precision']} ({entry['reason']})" for task, entry in info.items()))


@contextlib.asynccontextmanager
async def running(state: ServiceState, predictor: Predictor | None) -> AsyncIterator[None]:
    """The service from startup to shutdown: the batcher runs and the models load
    in the background; at the end, whatever is still queued drains."""
    state.batcher.start()
    state._loader = asyncio.create_task(load_models(state, predictor), name="kashif-load")
    try:
        yield
    finally:
        # uvicorn has already let in-flight requests finish; drain whatever is still queued
        if not state._loader.done():
            state._loader.cancel()
        await state.batcher.close()
        if isinstance(state.predictor, PredictorProcess):
            await asyncio.to_thread(state.predictor.close)
        log.info("inference stopped")
