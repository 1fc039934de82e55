"""The predictor in its own process (serve.http.inference_process): same answers as in-process,
errors come back as themselves, and a child that dies is replaced."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from kashif.model.predictor import Predictor, PredictorConfig
from kashif.serve.http.inference_process import InferenceProcessDied, InferenceProcessFailedToStart, PredictorProcess


@pytest.fixture(scope="module")
def worker(tiny_bundle_dir):
    process = PredictorProcess({"model": str(tiny_bundle_dir)}, PredictorConfig(threads=1))
    yield process
    process.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_answers_as_the_in_process_predictor(worker, tiny_bundle_dir, arabic_sentences):
    local = Predictor.from_refs(str(tiny_bundle_dir), config=PredictorConfig(threads=1))
    assert worker.pid != os.getpid() and _alive(worker.pid)
    assert list(worker.info()) == ["ner", "stance"]
    assert worker.info()["ner"]["labels"] == local.labels("ner")
    assert worker.entities(arabic_sentences[:12]) == local.entities(arabic_sentences[:12])
    pairs = [(s, "القاهرة") for s in arabic_sentences[:5]]
    assert worker.stance(pairs) == local.stance(pairs)


def test_an_error_comes_back_as_itself_and_the_child_lives_on(worker, arabic_sentences):
    pid = worker.pid
    with pytest.raises(TypeError, match="document 1 is int, not str"):
        worker.entities(["نص", 7])
    assert worker.pid == pid and worker.entities(arabic_sentences[:1]) is not None


def test_a_killed_child_is_replaced_and_the_call_answered(worker, arabic_sentences):
    heavy = [" ".join(arabic_sentences)] * 32  # about 4 s of work for the tiny model here; the kill lands after 0.5 s
    first_pid, restarts = worker.pid, worker.restarts
    outcome: list = []
    call = threading.Thread(target=lambda: outcome.append(_capture(worker.entities, heavy)))
    call.start()
    time.sleep(0.5)  # the batch is running
    os.kill(first_pid, signal.SIGKILL)
    call.join(120)
    assert isinstance(outcome[0], list) and len(outcome[0]) == len(heavy)  # answered by the fresh child
    assert worker.restarts == restarts + 1 and worker.pid != first_pid and not _alive(first_pid)


def test_a_call_that_kills_every_child_fails_alone(tiny_ner_dir, arabic_sentences):
    process = PredictorProcess({"ner_model": str(tiny_ner_dir)}, PredictorConfig(threads=1), warm=False)
    try:
        killer = threading.Thread(target=_kill_each_new_child, args=(process, 2))
        killer.start()
        outcome = _capture(process.entities, [" ".join(arabic_sentences)] * 8)
        killer.join(120)
        assert isinstance(outcome, InferenceProcessDied) and "exited twice" in str(outcome)
        assert process.entities(arabic_sentences[:2]) is not None  # and the next call is served
        assert process.restarts == 2
    finally:
        process.close()


def _kill_each_new_child(process: PredictorProcess, times: int) -> None:
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while len(seen) < times and time.monotonic() < deadline:
        pid = process.pid
        if pid is not None and pid not in seen:
            time.sleep(0.3)  # let it start on the batch
            os.kill(pid, signal.SIGKILL)
            seen.add(pid)
        time.sleep(0.01)


def _capture(fn, *args):
    try:
        return fn(*args)
    except BaseException as err:  # noqa: BLE001 - the test inspects it
        return err


def test_close_ends_the_child(tiny_ner_dir):
    process = PredictorProcess({"ner_model": str(tiny_ner_dir)}, PredictorConfig(threads=1), warm=False)
    pid = process.pid
    process.close()
    assert process.pid is None and not _alive(pid)


def test_a_model_that_cannot_load_is_one_clear_error(tmp_path):
    (tmp_path / "ner").mkdir()
    with pytest.raises(InferenceProcessFailedToStart, match="config.json is missing"):
        PredictorProcess({"ner_model": str(tmp_path / "ner")}, PredictorConfig(threads=1))
