"""The predictor in a process of its own, so inference never shares the GIL
with the server's event loop.

In one process, every torch operator gives the GIL up and must take it back;
while the event loop is busy (parsing requests, writing responses) each of
those hand-overs can wait for Python's switch interval, and a batch runs
much slower than alone (measured: a Python thread busy a quarter of the time
cut the bundled model's batched throughput by 18–35 %). The child owns the
model; the server's inference thread sends it one batch at a time over a pipe
and blocks in `recv` without holding the GIL.

If the child dies (killed, out of memory, a crash in native code), a fresh
child is started and runs the call once more; if that one dies too, the call
fails with `InferenceProcessDied` (the batcher then retries each request of
the batch alone, so one poisonous request fails by itself). The server stays up.
"""
from __future__ import annotations

import logging
import multiprocessing
import pickle
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any, Callable, Sequence

from kashif.model.messages import first_line
from kashif.model.predictor import Predictor, PredictorConfig, TaskMethods
from kashif.model.tasks import PAIR, task_named

log = logging.getLogger("kashif.serve")
START_TIMEOUT_S = 600.0  # loading a large model from a slow disk
STOP_TIMEOUT_S = 10.0
WARM_UP_TEXT = "زار الرئيس محمد بن سلمان مدينة القاهرة والتقى بمسؤولي جامعة الدول العربية."
WARM_UP_TARGET = "القاهرة"


class InferenceProcessDied(RuntimeError):
    """The inference process exited while running a batch (it is restarted on the next call)."""


class InferenceProcessFailedToStart(RuntimeError):
    """The inference process could not load the models; the message says why."""


def _sendable(err: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001 - an exception that does not survive pickling
        return RuntimeError(f"{type(err).__name__}: {err}")


def warm_up(predictor: Predictor) -> None:
    """One inference per loaded task, so the first request does not pay for lazy initialisation."""
    for task in predictor.tasks:
        predictor.run(task, [(WARM_UP_TEXT, WARM_UP_TARGET) if task_named(task).inputs == PAIR else WARM_UP_TEXT])


def _child_main(conn: Connection, refs: dict[str, str | None], config: PredictorConfig, warm: bool) -> None:
    # Ctrl-C and a SIGTERM sent to the whole process group are the parent's to
    # handle: it drains the queue, then closes the pipe, and the child exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        predictor = Predictor.from_refs(config=config, **refs)
        if warm:
            warm_up(predictor)
    except Exception as err:  # noqa: BLE001 - reported to the parent in one line
        conn.send(("failed", first_line(err)))
        return
    conn.send(("ready", predictor.info()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if request is None:
            return
        task, items = request
        try:
            conn.send(("ok", predictor.run(task, items)))
        except Exception as err:  # noqa: BLE001 - the caller's error, raised again in the parent
            conn.send(("error", _sendable(err)))


class PredictorProcess(TaskMethods):
    """A `Predictor` in a child process, with the same `run` (and `entities`, `stance`, `classify`), `tasks` and
    `info` calls. `refs` are `ModelRefs.references()`. Calls are serialised; make them from one thread."""

    def __init__(self, refs: dict[str, str | None], config: PredictorConfig, warm: bool = True,
                 on_restart: Callable[[], None] | None = None) -> None:
        self._args = (dict(refs), config, warm)
        self._on_restart = on_restart
        self._context = multiprocessing.get_context("spawn")  # never fork a process that has started torch threads
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._info: dict[str, dict] = {}
        self.restarts = 0
        self._start()

    # ---- lifecycle ---------------------------------------------------
    def _start(self) -> None:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_child_main, args=(child_end, *self._args), name="kashif-inference", daemon=True)
        process.start()
        child_end.close()
        try:
            if not parent_end.poll(START_TIMEOUT_S):
                raise InferenceProcessFailedToStart(f"the inference process did not load the models within {START_TIMEOUT_S:.0f} s")
            status, payload = parent_end.recv()
        except (EOFError, OSError):
            parent_end.close()
            process.join(STOP_TIMEOUT_S)
            raise InferenceProcessFailedToStart(f"the inference process exited while loading the models (exit code {process.exitcode})") from None
        except BaseException:
            parent_end.close()
            process.kill()
            raise
        if status != "ready":
            parent_end.close()
            process.join(STOP_TIMEOUT_S)
            raise InferenceProcessFailedToStart(payload)
        self._process, self._conn, self._info = process, parent_end, payload
        log.info("inference process %d ready", process.pid)

    def close(self) -> None:
        """Ask the child to exit (after the call in progress), then make sure it has."""
        with self._lock:
            if self._process is not None:
                try:
                    self._conn.send(None)
                except OSError:
                    pass
                self._process.join(STOP_TIMEOUT_S)
                if self._process.is_alive():
                    self._process.kill()
                    self._process.join()
            if self._conn is not None:
                self._conn.close()
            self._process = self._conn = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # ---- the predictor's calls --------------------------------------
    def info(self) -> dict[str, dict]:
        return self._info

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self._info)

    def run(self, task: str, items: Sequence[Any]) -> list:
        return self._call(task, list(items))

    def _call(self, task: str, items: list[Any]) -> list:
        """One call in the child. If the child dies during it, a fresh child
        tries once more (it may have died of something else: killed, or out of
        memory while idle); a second death raises InferenceProcessDied."""
        with self._lock:
            for attempt in (1, 2):
                # Between calls nothing is due on the pipe: something to read means it was closed, the child is gone.
                if self._process is None or self._conn.poll() or not self._process.is_alive():
                    self._restart()
                try:
                    self._conn.send((task, items))
                    status, payload = self._conn.recv()
                    break
                except (EOFError, OSError):
                    self._process.join(STOP_TIMEOUT_S)
                    code, self._process = self._process.exitcode, None
                    log.error("the inference process exited (exit code %s) during a call (attempt %d of 2)", code, attempt)
            else:
                raise InferenceProcessDied(f"the inference process exited twice (last exit code {code}) while running this request")
        if status == "error":
            raise payload
        return payload

    def _restart(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.restarts += 1
        log.warning("starting a new inference process (restart %d)", self.restarts)
        if self._on_restart is not None:
            self._on_restart()
        self._start()
