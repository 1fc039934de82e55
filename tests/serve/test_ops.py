"""Operations of a real `kashif serve`: API keys, CORS, a missing model, CLI errors,
overload back-pressure and graceful SIGTERM.

One server for the module (NER only, keys, CORS, a queue of 4); the SIGTERM
test ends it, so it comes last."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server_fixtures import kashif_command, server_env, start_server

KEYS = ("env-key-1", "env-key-2")
FILE_KEY = "file-key-3"
ORIGIN = "https://app.example.org"


@pytest.fixture(scope="module")
def ops_server(tiny_ner_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-ops")
    key_file = tmp / "keys.txt"
    key_file.write_text(f"# one key per line\n\n{FILE_KEY}\n", encoding="utf-8")
    srv = start_server(
        ["--ner-model", str(tiny_ner_dir)], "--api-key-file", str(key_file), "--cors-origins", ORIGIN,
        "--max-queue", "4", "--max-batch-units", "4", "--max-body-bytes", str(HEAVY_BODY_BYTES),
        # torch fp32, not auto: the overload and SIGTERM tests need heavy requests still running when they act,
        # and auto's ONNX/int8 paths (where the CPU lacks bf16) run them several times faster
        "--backend", "torch", "--precision", "fp32",
        log_dir=tmp, env={"KASHIF_API_KEYS": ",".join(KEYS)},
    )
    yield srv
    srv.stop(signal.SIGKILL)  # normally already stopped by the SIGTERM test


# ---- API keys, CORS, a server with only an NER model ----------------------------

def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_v1_needs_a_key_and_health_stays_open(ops_server):
    with httpx.Client(base_url=ops_server.url, timeout=30) as c:
        for path, body in (("/v1/models", None), ("/v1/entities", {"text": "محمد في القاهرة"})):
            send = (lambda **kw: c.get(path, **kw)) if body is None else (lambda **kw: c.post(path, json=body, **kw))
            missing = send()
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
            assert missing.json()["error"]["code"] == "unauthorized"
            assert send(headers=_bearer("wrong-key")).status_code == 401
            assert send(headers={"Authorization": KEYS[0]}).status_code == 401  # no scheme
            for key in (*KEYS, FILE_KEY):
                assert send(headers=_bearer(key)).status_code == 200
        # unauthenticated garbage is refused before it is parsed
        assert c.post("/v1/entities", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 401
        for open_path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/"):
            assert c.get(open_path).status_code == 200, open_path
        spec = c.get("/openapi.json").json()
        assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in spec["components"]["securitySchemes"].values())
    log = ops_server.log()
    for key in (*KEYS, FILE_KEY, "wrong-key"):
        assert key not in log, "key material must never be logged"
    assert "POST /v1/entities 401" in log


def test_cors_only_for_configured_origins(ops_server):
    with httpx.Client(base_url=ops_server.url, timeout=30) as c:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
        allowed = c.options("/v1/entities", headers={"Origin": ORIGIN, **preflight})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
        refused = c.options("/v1/entities", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in refused.headers
        simple = c.post("/v1/entities", json={"text": "نص"}, headers={"Origin": ORIGIN, **_bearer(FILE_KEY)})
        assert simple.headers["access-control-allow-origin"] == ORIGIN


def test_missing_stance_model_is_a_clear_404(ops_server):
    with httpx.Client(base_url=ops_server.url, timeout=30, headers=_bearer(KEYS[1])) as c:
        assert c.get("/readyz").json()["models"] == ["ner"]
        for response in (
            c.post("/v1/stance", json={"text": "نص", "target": "هدف"}),
            c.post("/v1/analyze", json={"text": "نص", "targets": ["هدف"]}),
        ):
            assert response.status_code == 404
            error = response.json()["error"]
            assert error["code"] == "model_not_loaded" and "--stance-model" in error["message"]
        plain = c.post("/v1/analyze", json={"text": "زار محمد القاهرة"})
        assert plain.status_code == 200 and plain.json()["stance"] == []
        assert [m["task"] for m in c.get("/v1/models").json()["models"]] == ["ner"]


# ---- CLI errors ------------------------------------------------------------------------
def _serve(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*kashif_command(), "serve", *args, "--port", "0"], env=server_env(), capture_output=True, text=True, timeout=timeout)


def test_cli_bad_model_path_and_key_file_fail_in_one_line(tmp_path):
    missing = _serve("--model", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "no such bundle directory" in missing.stderr
    no_keys = tmp_path / "empty.txt"
    no_keys.write_text("# nothing\n")
    bad_keys = _serve("--ner-model", str(tmp_path), "--api-key-file", str(no_keys))
    assert bad_keys.returncode == 2 and "holds no key" in bad_keys.stderr and "Traceback" not in bad_keys.stderr
    bad_limit = _serve("--max-items", "0")
    assert bad_limit.returncode == 2 and "max-items must be at least 1" in bad_limit.stderr
    bad_delay = subprocess.run([*kashif_command(), "serve", "--port", "0"], env=server_env({"KASHIF_MAX_QUEUE_DELAY_MS": "-5"}),
                               capture_output=True, text=True, timeout=120)
    assert bad_delay.returncode == 2 and bad_delay.stderr.strip().endswith("max-queue-delay-ms must be positive, got -5")
    bad_mode = subprocess.run([*kashif_command(), "serve", "--port", "0"], env=server_env({"KASHIF_INFERENCE": "fork"}),
                              capture_output=True, text=True, timeout=120)
    assert bad_mode.returncode == 2 and bad_mode.stderr.strip().endswith("inference must be one of process, thread, got 'fork'")


def test_cli_model_that_fails_to_load_exits_nonzero(tmp_path):
    (tmp_path / "bundle" / "ner").mkdir(parents=True)  # a bundle whose ner/ has no model in it
    result = _serve("--model", str(tmp_path / "bundle"))
    assert result.returncode == 1
    assert "the models could not be loaded" in result.stderr and "config.json is missing" in result.stderr
    assert "Traceback" not in result.stderr


# ---- overload and graceful shutdown (the SIGTERM test ends the server) -----------------

# A request that keeps the tiny model busy for seconds on this machine (and
# still for most of a second on one several times faster): tests that need
# work to be running wait until it is (kashif_inference_running_units), then act.
HEAVY_ITEMS = 32
HEAVY_BODY_BYTES = 4_000_000  # 32 texts of 20,000 Arabic characters are over the default 1 MB


def _heavy_texts(arabic_sentences: list[str], n: int = HEAVY_ITEMS, chars: int = 20_000) -> list[str]:
    joined = " ".join(arabic_sentences)
    return [joined[i * 97 : i * 97 + chars] for i in range(n)]


def _metric(client: httpx.Client, pattern: str) -> float:
    found = re.search(pattern, client.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def _in_flight(client: httpx.Client) -> float:
    return _metric(client, r"^kashif_http_requests_in_flight (\S+)$")


def _wait_until_running(client: httpx.Client, units: int, timeout: float = 60.0) -> None:
    """Until an inference call of `units` texts is running on the server."""
    deadline = time.monotonic() + timeout
    while _metric(client, r"^kashif_inference_running_units (\S+)$") != units:
        assert time.monotonic() < deadline, "the request never started running"
        time.sleep(0.01)


def test_a_client_that_leaves_is_dropped_from_the_queue(ops_server, arabic_sentences):
    units = r'^kashif_batch_units_sum\{task="entities"\} (\S+)$'
    gone = r'^kashif_http_requests_total\{method="POST",route="/v1/entities",status="499"\} (\S+)$'
    heavy = _heavy_texts(arabic_sentences)
    status: list[int] = []

    def post_heavy() -> None:
        with httpx.Client(base_url=ops_server.url, timeout=180, headers=_bearer(FILE_KEY)) as own:
            status.append(own.post("/v1/entities", json={"texts": heavy}).status_code)

    with httpx.Client(base_url=ops_server.url, timeout=180, headers=_bearer(FILE_KEY)) as c:
        units_before = _metric(c, units)
        # Freeze the inference process before the heavy call reaches it, so that the call outlasts the short
        # client on any machine (the server's own process, which queues and counts, keeps running).
        child = _inference_child(ops_server.proc.pid)
        os.kill(child, signal.SIGSTOP)
        runner = threading.Thread(target=post_heavy)
        runner.start()
        try:
            _wait_until_running(c, len(heavy))
            with pytest.raises(httpx.TimeoutException):  # queued behind the heavy one, the client gives up
                httpx.post(ops_server.url + "/v1/entities", json={"texts": ["قصير"] * 3}, headers=_bearer(FILE_KEY), timeout=0.3)
            deadline = time.monotonic() + 60
            while _metric(c, gone) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _metric(c, gone) == 1
        finally:
            os.kill(child, signal.SIGCONT)
            runner.join(180)  # never leave the heavy request running into the next test
        assert status == [200]
        assert _metric(c, units) - units_before == len(heavy), "the abandoned request was computed anyway"


def test_overload_gets_503_with_retry_after_then_recovers(ops_server, arabic_sentences):
    texts = _heavy_texts(arabic_sentences, 4, chars=1500)

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=ops_server.url, timeout=120, limits=limits, headers=_bearer(FILE_KEY)) as ac:
            return await asyncio.gather(*(ac.post("/v1/entities", json={"texts": texts}) for _ in range(64)))

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    overloaded = [r for r in responses if r.status_code == 503]
    assert overloaded, "a burst of 64 against a queue of 4 must be refused in part"
    assert all(r.json()["error"]["code"] == "overloaded" and int(r.headers["retry-after"]) >= 1 for r in overloaded)
    assert statuses.count(200) >= 4

    with httpx.Client(base_url=ops_server.url, timeout=60, headers=_bearer(FILE_KEY)) as c:
        after = c.post("/v1/entities", json={"texts": texts})
        assert after.status_code == 200 and len(after.json()["results"]) == 4
        metrics = c.get("/metrics").text
        assert 'kashif_rejected_requests_total{task="entities"}' in metrics
        assert "kashif_queue_depth 0.0" in metrics


def test_time_bound_sheds_requests_before_reading_them(tiny_ner_dir, arabic_sentences, tmp_path):
    srv = start_server(["--ner-model", str(tiny_ner_dir)], "--max-queue-delay-ms", "1", "--max-body-bytes", str(HEAVY_BODY_BYTES), log_dir=tmp_path)
    heavy = _heavy_texts(arabic_sentences)
    try:
        with httpx.Client(base_url=srv.url, timeout=180) as c:
            assert c.post("/v1/entities", json={"text": arabic_sentences[0]}).status_code == 200  # the batcher measures a rate
            busy = threading.Thread(target=lambda: c.post("/v1/entities", json={"texts": heavy}))
            busy.start()
            _wait_until_running(c, len(heavy))
            # not even valid JSON: a refused request is answered before its body is read
            probe = {"content": b"{not json", "headers": {"content-type": "application/json", "x-request-id": "probe-1"}}
            shed = c.post("/v1/entities", **probe)
            assert shed.status_code == 503, shed.text
            error = shed.json()["error"]
            assert error["code"] == "overloaded" and "estimated wait" in error["message"] and error["request_id"] == "probe-1"
            assert shed.headers["x-request-id"] == "probe-1" and int(shed.headers["retry-after"]) >= 1
            assert c.get("/healthz").status_code == 200  # only inference routes are shed
            busy.join(180)
            assert c.post("/v1/entities", json={"text": arabic_sentences[1]}).status_code == 200  # idle again: admitted
            assert _metric(c, r'^kashif_rejected_requests_total\{task="entities"\} (\S+)$') >= 1
            assert _metric(c, r'^kashif_http_requests_total\{method="POST",route="/v1/entities",status="503"\} (\S+)$') >= 1
    finally:
        srv.stop()


def _inference_child(server_pid: int) -> int:
    # each thread lists the children it started; the inference thread starts this one
    children = [c for task in Path(f"/proc/{server_pid}/task").iterdir() for c in (task / "children").read_text().split()]
    found = [int(c) for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")
             and b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert len(found) == 1, children
    return found[0]


def test_a_dead_inference_process_is_replaced_and_the_server_stays_up(ops_server, arabic_sentences):
    restarts = r"^kashif_inference_process_restarts_total (\S+)$"
    with httpx.Client(base_url=ops_server.url, timeout=60, headers=_bearer(KEYS[0])) as c:
        before = _metric(c, restarts)
        child = _inference_child(ops_server.proc.pid)
        os.kill(child, signal.SIGKILL)
        assert c.get("/healthz").status_code == 200
        answer = c.post("/v1/entities", json={"texts": arabic_sentences[:3]})
        assert answer.status_code == 200 and len(answer.json()["results"]) == 3, ops_server.log()[-3000:]
        assert _metric(c, restarts) == before + 1
        assert _inference_child(ops_server.proc.pid) != child
    assert "starting a new inference process" in ops_server.log()


def test_sigterm_finishes_in_flight_requests_and_exits_0(ops_server, arabic_sentences):
    texts = _heavy_texts(arabic_sentences, 8)
    results: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=ops_server.url, timeout=180, headers=_bearer(KEYS[0])) as c:
            results.append(c.post("/v1/entities", json={"texts": texts}).status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]  # within the queue bound of 4
    for t in threads:
        t.start()
    with httpx.Client(base_url=ops_server.url, timeout=30) as probe:
        deadline = time.monotonic() + 60
        while _in_flight(probe) < 5 and time.monotonic() < deadline:  # 4 requests + this probe
            time.sleep(0.05)
        assert _in_flight(probe) >= 5, "the requests never reached the server"
        _wait_until_running(probe, len(texts))
    child = _inference_child(ops_server.proc.pid)
    ops_server.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(180)
    assert ops_server.proc.wait(60) == 0
    assert results == [200] * 4
    assert not Path(f"/proc/{child}").exists(), "the inference process outlived the server"
    log = ops_server.log()
    assert "Shutting down" in log and "inference stopped" in log
    assert log.index("Shutting down") < log.rindex("POST /v1/entities 200"), "requests finished after SIGTERM"
