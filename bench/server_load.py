"""Section `server`: a real `kashif serve` on loopback under bounded load.

Single-sentence `/v1/entities` requests at concurrency 1, 16 and 64 with
micro-batching on (the defaults) and off (`--max-batch-units 1`), driven by
wrk when it is installed (a Python asyncio client otherwise); then a burst
of 8× the queue limit against a server with a small queue: the share
answered 503/429, the p99 of the accepted requests against the unloaded p99,
and whether a normal request succeeds afterwards.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from bench.common import (
    BENCH_DIR,
    REPO,
    BenchOptions,
    anercorp_sentences,
    base_ner_model,
    bundled,
    compared,
    ensure_onnx_exports,
    process_tree_peak_rss_mb,
    write_result,
)

CONCURRENCY = (1, 16, 64)
BATCHING_ON = "batching on (defaults)"
BATCHING_OFF = "batching off (--max-batch-units 1)"
# The previous default, inference in the server's own thread, for comparison at the level where it matters.
THREAD_MODE = "batching on, --inference thread"
THREAD_MODE_LEVELS = (64,)
COMPARED_MODEL = "compared model (--compare-bundle), batching on"
BURST_QUEUE = 16  # --max-queue of the burst server; the burst is 8× this
BURST_QUEUE_DELAY_MS = 10  # --max-queue-delay-ms of the burst server: its latency budget for queueing
UNLOADED_REQUESTS = 200
REPEATS = 3  # measurements per mode and level, alternating between the modes (run-to-run noise here is ±15 %)


# ---- the server ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def kashif_server(model_args: Sequence[str], extra: Sequence[str], threads: int, ready_timeout: float = 600) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    cmd = [sys.executable, "-m", "kashif", "serve", *model_args, "--host", "127.0.0.1", "--port", str(port),
           "--threads", str(threads), "--log-level", "warning", *extra]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), KASHIF_THREADS=str(threads), TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, proc, ready_timeout, log)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _wait_ready(base: str, proc: subprocess.Popen, timeout: float, log) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            tail = log.read().decode(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(f"kashif serve exited with {proc.returncode}: " + " | ".join(tail))
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"kashif serve was not ready within {timeout:.0f} s")


# ---- load generators --------------------------------------------------------
def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, bodies_file: Path, concurrency: int, seconds: float) -> dict:
    threads = min(2, concurrency)
    cmd = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds:g}s", "--timeout", "30s",
           "-s", str(BENCH_DIR / "wrk_post.lua"), url, "--", str(bodies_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    match = re.search(r"WRK_JSON (\{.*\})", out.stdout)
    if not match:
        raise RuntimeError(f"wrk gave no summary: {(out.stderr or out.stdout).strip()[-300:]}")
    s = json.loads(match.group(1))
    seconds_run = s["duration_us"] / 1e6
    if s["requests"] == 0:  # nothing finished within the window: wrk's percentiles are then 0, not a latency
        s.update(p50_us=None, p95_us=None, p99_us=None, max_us=None)
    errors = s["errors_connect"] + s["errors_read"] + s["errors_write"] + s["errors_timeout"]
    return {"tool": "wrk", "requests": s["requests"], "seconds": seconds_run,
            "requests_per_s": (s["requests"] - s["errors_status"]) / seconds_run,
            **{f"{k}_ms": (s[f"{k}_us"] / 1e3 if s[f"{k}_us"] is not None else None) for k in ("p50", "p95", "p99", "max")},
            "non_2xx": s["errors_status"], "socket_errors": errors}


async def _client_run(url: str, bodies: Sequence[bytes], concurrency: int, total: int, timeout: float) -> list[tuple[int, float]]:
    """`total` POSTs with `concurrency` in flight: (status, seconds) per request;
    status 0 = transport error or timeout. (The load when wrk is not installed.)"""
    import httpx

    results: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        counter = iter(range(total))

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            try:
                r = await client.post(url, content=bodies[i % len(bodies)], headers={"content-type": "application/json"})
                results.append((r.status_code, time.perf_counter() - t0))
            except httpx.HTTPError:
                results.append((0, time.perf_counter() - t0))

        async def worker() -> None:
            for i in counter:
                await one(i)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def client_load(url: str, bodies: Sequence[bytes], concurrency: int, total: int, timeout: float = 30.0) -> tuple[dict, list]:
    t0 = time.perf_counter()
    results = asyncio.run(_client_run(url, bodies, concurrency, total, timeout))
    seconds = time.perf_counter() - t0
    ok = sorted(dt for status, dt in results if status == 200)
    summary = {"tool": "python-asyncio-httpx", "requests": len(results), "seconds": seconds,
               "requests_per_s": len(ok) / seconds, **percentiles(ok),
               "non_2xx": sum(1 for s, _ in results if s not in (0, 200)), "socket_errors": sum(1 for s, _ in results if s == 0)}
    return summary, results


def percentiles(latencies_s: Sequence[float]) -> dict:
    if not latencies_s:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    xs = sorted(latencies_s)

    def q(p: float) -> float:
        return 1e3 * xs[min(len(xs) - 1, max(0, round(p * len(xs) + 0.5) - 1))]

    return {"p50_ms": q(0.50), "p95_ms": q(0.95), "p99_ms": q(0.99), "max_ms": 1e3 * xs[-1]}


# ---- the section ---------------------------------------------------------------
def _bodies(opts: BenchOptions, n: int) -> list[bytes]:
    from kashif.training.evaluate import join_tokens

    tokens, _ = anercorp_sentences(opts.anercorp_test, n)
    return [json.dumps({"text": join_tokens(t)[0]}, ensure_ascii=False).encode() for t in tokens]


def _warm(url: str, bodies: list[bytes], bodies_file: Path, concurrency: int) -> None:
    if wrk_available():
        run_wrk(url, bodies_file, concurrency, 2.0)
    else:
        client_load(url, bodies, concurrency, max(concurrency, 16))


def _load_level(url: str, bodies: list[bytes], bodies_file: Path, concurrency: int, seconds: float) -> dict:
    if wrk_available():
        return run_wrk(url, bodies_file, concurrency, seconds)
    rate_guess = 40 * concurrency if concurrency > 1 else 40
    summary, _ = client_load(url, bodies, concurrency, max(2 * concurrency, int(rate_guess * seconds / 4)))
    return summary


def _burst(url: str, bodies: list[bytes], queue: int, waves: int) -> dict:
    from bench import http_burst

    unloaded = [dt for status, dt in http_burst.sequential(url, bodies, UNLOADED_REQUESTS) if status == 200]
    statuses: dict[str, int] = {}
    accepted: list[float] = []
    for _ in range(waves):
        time.sleep(0.5)  # the server is idle again before each wave
        for status, dt in http_burst.burst(url, bodies, 8 * queue):
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 200:
                accepted.append(dt)
    time.sleep(0.5)
    after = http_burst.sequential(url, bodies, 20)
    total = sum(statuses.values())
    refused = statuses.get("503", 0) + statuses.get("429", 0)
    acc, base = percentiles(accepted), percentiles(unloaded)
    return {"queue_limit": queue, "max_queue_delay_ms": BURST_QUEUE_DELAY_MS, "burst_size": 8 * queue, "waves": waves,
            "client": "raw asyncio HTTP/1.1, connections opened before the clock (bench/http_burst.py)",
            "statuses": statuses, "refused_fraction": refused / total if total else None, "accepted": len(accepted),
            "accepted_p99_ms": acc["p99_ms"], "accepted_p50_ms": acc["p50_ms"],
            "unloaded_requests": len(unloaded), "unloaded_p50_ms": base["p50_ms"], "unloaded_p99_ms": base["p99_ms"],
            "p99_ratio": acc["p99_ms"] / base["p99_ms"] if acc["p99_ms"] and base["p99_ms"] else None,
            "recovered": all(status == 200 for status, _ in after),
            "after_burst_p50_ms": percentiles([dt for _, dt in after])["p50_ms"]}


def run(opts: BenchOptions) -> dict:
    seconds = opts.extra.get("server_seconds") or (5.0 if opts.quick else 10.0)
    ner = bundled(opts, "ner")
    model_dir = ner or base_ner_model(opts)
    ensure_onnx_exports(opts, {"ner": model_dir})
    model_args = ["--ner-model", str(model_dir)]
    bodies = _bodies(opts, 200)
    modes = {BATCHING_ON: [], BATCHING_OFF: ["--max-batch-units", "1"], THREAD_MODE: ["--inference", "thread"]}
    mode_models = {mode: model_args for mode in modes}
    previous = compared(opts, "ner")
    if previous is not None:  # measured in the same rotation, so that its figures compare with the bundled model's
        modes[COMPARED_MODEL] = []
        mode_models[COMPARED_MODEL] = ["--ner-model", str(previous)]
    mode_levels = {mode: CONCURRENCY for mode in modes} | {THREAD_MODE: THREAD_MODE_LEVELS}
    levels: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="kashif-bench-") as tmp:
        bodies_file = Path(tmp) / "bodies.jsonl"
        bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
        # Both servers up at once (the idle one costs memory, not CPU) and measured in
        # turn at each level, so that drifting background load hits both modes alike.
        with ExitStack() as stack:
            servers = {mode: stack.enter_context(kashif_server(mode_models[mode], extra, opts.threads)) for mode, extra in modes.items()}
            for mode, (base, _) in servers.items():  # first requests after start-up are slow (lazy imports, kernel set-up)
                for c in mode_levels[mode]:
                    _warm(base + "/v1/entities", bodies, bodies_file, c)
            for c in CONCURRENCY:
                runs: dict[str, list[dict]] = {mode: [] for mode in servers if c in mode_levels[mode]}
                for repeat in range(REPEATS):  # A B, B A, A B: best of each, against drift and order effects
                    order = [(mode, servers[mode]) for mode in runs]
                    order = order if repeat % 2 == 0 else order[::-1]
                    for mode, (base, _) in order:
                        runs[mode].append(_load_level(base + "/v1/entities", bodies, bodies_file, c, seconds))
                for mode, measured in runs.items():
                    best = max(measured, key=lambda r: r["requests_per_s"])
                    levels.setdefault(mode, {})[str(c)] = {**best, "all_runs_requests_per_s": [r["requests_per_s"] for r in measured]}
                    print(f"  server: {mode}, c={c}: {best['requests_per_s']:.1f} req/s (best of {len(measured)})", flush=True)
            for mode, (_, proc) in servers.items():
                levels[mode]["server_peak_rss_mb"] = process_tree_peak_rss_mb(proc.pid)  # with its inference process
        burst_flags = ["--max-queue", str(BURST_QUEUE), "--max-queue-delay-ms", str(BURST_QUEUE_DELAY_MS)]
        with kashif_server(model_args, burst_flags, opts.threads) as (base, proc):
            burst = _burst(base + "/v1/entities", bodies, BURST_QUEUE, 2 if opts.quick else 5)
            burst["server_alive"] = proc.poll() is None
    on, off = levels[BATCHING_ON], levels[BATCHING_OFF]
    ratios = {c: on[str(c)]["requests_per_s"] / off[str(c)]["requests_per_s"] for c in CONCURRENCY if off[str(c)]["requests_per_s"]}
    payload = {"model": "bundled NER" if ner else "BERT-base shape (random weights; no bundled model)", "model_dir": str(model_dir),
               "compared_model_dir": str(previous) if previous else None,
               "backend": "server defaults (KASHIF_BACKEND/KASHIF_PRECISION unset)", "seconds_per_level": seconds, "repeats": REPEATS,
               "load_generator": "wrk (same 2 cores as the server)" if wrk_available() else "python asyncio+httpx (same cores)",
               "levels": levels, "batching_speedup": {str(c): r for c, r in ratios.items()}, "burst": burst}
    write_result(opts, "server", payload)
    plot(opts, payload)
    return payload


def plot(opts: BenchOptions, payload: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    for mode, levels in payload["levels"].items():
        cs = [c for c in CONCURRENCY if str(c) in levels]
        a.plot(cs, [levels[str(c)]["requests_per_s"] for c in cs], marker="o", label=mode)
        b.plot(cs, [levels[str(c)]["p99_ms"] for c in cs], marker="o", label=mode)
    for ax, label in ((a, "requests/s"), (b, "p99 latency, ms")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    b.set_yscale("log")
    fig.suptitle(f"kashif serve, single-sentence /v1/entities ({payload['model']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(opts.results_dir / "server.png", dpi=110)
    plt.close(fig)
