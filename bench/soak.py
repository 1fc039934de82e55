"""`python -m bench.soak` (also section `soak` of `bench.run`): a bounded soak of
a real `kashif serve` on loopback.

N requests (default 2000) of mixed routes and sizes — `/v1/entities` (one text
or a batch), `/v1/stance` (one pair or items), `/v1/analyze` (text + targets),
from one sentence to a few thousand characters — at a fixed concurrency, with
the inference child process killed (SIGKILL) once, when half the requests are
done. Reports the answers' statuses, p50/p99 (overall and per route), the
inference restarts counted by /metrics, and the server's RSS (server process +
inference child) before and after, into `bench/results/soak.json` and `soak.md`.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import random
import re
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from bench.common import BUNDLED_DIR, REPO, RESULTS_DIR, BenchOptions, git_commit
from bench.server_load import kashif_server, percentiles

DEFAULT_REQUESTS = 2000
QUICK_REQUESTS = 300
DEFAULT_CONCURRENCY = 32
REQUEST_TIMEOUT_S = 60.0
TARGETS = ("الحكومة", "القاهرة", "الانتخابات", "الاقتصاد")


# ---- the requests ------------------------------------------------------------------
def _sentences() -> list[str]:
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "seeds").glob("*.txt")))
    parts = [s.strip() for s in re.split(r"(?<=[.!؟?])\s+", text) if len(s.strip()) > 20]
    return parts or [text[:200]]


def request_mix(count: int, seed: int = 0) -> list[tuple[str, bytes]]:
    """`count` (route, JSON body) pairs: a fixed, seeded mix of routes and sizes."""
    rng = random.Random(seed)
    sentences = _sentences()

    def text(chars: int) -> str:
        start = rng.randrange(len(sentences))
        out = ""
        i = start
        while len(out) < chars:
            out += sentences[i % len(sentences)] + " "
            i += 1
        return out[:chars].strip()

    def size() -> int:  # mostly short, some medium, a few long
        return rng.choice((60, 80, 120, 200, 200, 400, 800, 2500))

    kinds = [
        ("/v1/entities", lambda: {"text": text(size())}),
        ("/v1/entities", lambda: {"texts": [text(size()) for _ in range(rng.randint(2, 4))]}),
        ("/v1/stance", lambda: {"text": text(size()), "target": rng.choice(TARGETS)}),
        ("/v1/stance", lambda: {"items": [{"text": text(size()), "target": rng.choice(TARGETS)} for _ in range(rng.randint(2, 4))]}),
        ("/v1/analyze", lambda: {"text": text(size()), "targets": rng.sample(TARGETS, rng.randint(1, 3))}),
    ]
    out = []
    for _ in range(count):
        route, make = rng.choice(kinds)
        out.append((route, json.dumps(make(), ensure_ascii=False).encode("utf-8")))
    return out


# ---- the server's processes ----------------------------------------------------------
def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").glob("*") for c in (task / "children").read_text().split()]


def inference_child(server_pid: int) -> int | None:
    """The server's inference process (a multiprocessing spawn child, not its resource tracker)."""
    for child in _children(server_pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            return child
    return None


def _status_mb(pid: int, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def memory(server_pid: int) -> dict:
    """Current RSS of the server process and of its inference child, in MB."""
    child = inference_child(server_pid)
    server_mb = _status_mb(server_pid, "VmRSS")
    child_mb = _status_mb(child, "VmRSS") if child else None
    return {"server_pid": server_pid, "server_rss_mb": server_mb, "inference_pid": child, "inference_rss_mb": child_mb,
            "total_rss_mb": round((server_mb or 0) + (child_mb or 0), 1)}


def _error_code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def _restarts(metrics_text: str) -> float:
    found = re.search(r"^kashif_inference_process_restarts_total (\S+)$", metrics_text, re.M)
    return float(found.group(1)) if found else 0.0


# ---- the load ------------------------------------------------------------------------
async def _drive(base: str, requests: Sequence[tuple[str, bytes]], concurrency: int, server_pid: int) -> tuple[list[dict], dict]:
    import httpx

    results: list[dict] = []
    kill: dict = {}
    half = len(requests) // 2
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        queue = iter(enumerate(requests))

        async def one(i: int, route: str, body: bytes) -> None:
            t0 = time.perf_counter()
            code = None
            try:
                r = await client.post(route, content=body, headers={"content-type": "application/json"})
                status = r.status_code
                if status != 200:
                    code = _error_code(r)
            except httpx.HTTPError as err:
                status, code = 0, type(err).__name__
            results.append({"i": i, "route": route, "status": status, "code": code, "seconds": time.perf_counter() - t0,
                            "done": time.perf_counter()})
            if len(results) == half and not kill:
                child = inference_child(server_pid)
                kill.update(pid=child, at_request=len(results), at=time.perf_counter())
                if child:
                    os.kill(child, signal.SIGKILL)

        async def worker() -> None:
            for i, (route, body) in queue:
                await one(i, route, body)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, kill


def soak(requests: int, concurrency: int, threads: int, bundle: Path | None) -> dict:
    import httpx

    mix = request_mix(requests)
    model = bundle or BUNDLED_DIR
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    with kashif_server(["--model", str(model)], [], threads) as (base, proc):
        for route, body in request_mix(20, seed=1):  # warm-up: first requests pay for lazy set-up
            httpx.post(base + route, content=body, headers={"content-type": "application/json"}, timeout=REQUEST_TIMEOUT_S)
        before = memory(proc.pid)
        restarts_before = _restarts(httpx.get(base + "/metrics", timeout=30).text)
        t0 = time.perf_counter()
        results, kill = asyncio.run(_drive(base, mix, concurrency, proc.pid))
        seconds = time.perf_counter() - t0
        time.sleep(0.5)
        after = memory(proc.pid)
        restarts_after = _restarts(httpx.get(base + "/metrics", timeout=30).text)
        alive = proc.poll() is None and httpx.get(base + "/healthz", timeout=10).status_code == 200

    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}  # "503 overloaded", "0 ReadTimeout", ...
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
        if r["status"] != 200:
            key = f"{r['status']} {r['code']}"
            errors[key] = errors.get(key, 0) + 1
    ok = [r["seconds"] for r in results if r["status"] == 200]
    routes = {}
    for route in sorted({r["route"] for r in results}):
        mine = [r for r in results if r["route"] == route]
        routes[route] = {"requests": len(mine), "ok": sum(r["status"] == 200 for r in mine),
                         **percentiles([r["seconds"] for r in mine if r["status"] == 200])}
    # requests that finished in the 10 s after the kill: what the restart cost them
    around = [r["seconds"] for r in results if kill.get("at") and 0 <= r["done"] - kill["at"] <= 10 and r["status"] == 200]
    return {
        "model": "bundled" if bundle is None else str(bundle.name), "requests": len(results), "concurrency": concurrency,
        "threads": threads, "seconds": round(seconds, 2), "requests_per_s": round(len(ok) / seconds, 1) if seconds else None,
        "statuses": statuses, "errors": errors, "all_ok": statuses.get("200", 0) == len(results),
        "host": {"load_average_at_start": load_at_start, "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                 "cores": os.cpu_count(), "nice": os.nice(0)},
        "latency": percentiles(ok), "routes": routes, "after_kill_10s": {"requests": len(around), **percentiles(around)},
        "kill": {"inference_pid": kill.get("pid"), "after_requests": kill.get("at_request"),
                 "restarts_counted": restarts_after - restarts_before},
        "rss_before": before, "rss_after": after, "server_alive": alive,
    }


# ---- results -------------------------------------------------------------------------
def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f} ms"


def write_results(results_dir: Path, payload: dict) -> tuple[Path, Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = results_dir / "soak.json", results_dir / "soak.md"
    json_path.write_text(json.dumps({"section": "soak", **payload}, ensure_ascii=False, indent=2) + "\n")
    m, b, a, k = payload["meta"], payload["rss_before"], payload["rss_after"], payload["kill"]
    lines = [
        "# Soak: mixed requests with the inference process killed once", "",
        f"`{m['command']}` · commit {m['commit']} · {m['date']} · {payload['threads']} torch threads, "
        f"model {payload['model']}, concurrency {payload['concurrency']}, loopback.", "",
        f"- {payload['requests']} requests in {payload['seconds']:.1f} s ({payload['requests_per_s']} answered/s); "
        f"statuses: {', '.join(f'{s}: {n}' for s, n in sorted(payload['statuses'].items()))}"
        + (f" (errors: {', '.join(f'{e}: {n}' for e, n in sorted(payload.get('errors', {}).items()))})" if payload.get("errors") else ""),
        *([f"- host: {h['cores']} cores, load average {h['load_average_at_start']} at the start and {h['load_average_at_end']} at the end; "
           f"this run (and the server it started) at nice {h['nice']}"] if (h := payload.get("host")) else []),
        f"- latency of the answered requests: p50 {_ms(payload['latency']['p50_ms'])}, p99 {_ms(payload['latency']['p99_ms'])}, "
        f"max {_ms(payload['latency']['max_ms'])}",
        f"- inference process {k['inference_pid']} killed (SIGKILL) after {k['after_requests']} requests; restarts counted in "
        f"/metrics: {k['restarts_counted']:.0f}; requests answered in the 10 s after: {payload['after_kill_10s']['requests']}, "
        f"p99 {_ms(payload['after_kill_10s']['p99_ms'])}",
        f"- RSS before: server {b['server_rss_mb']} MB + inference {b['inference_rss_mb']} MB = {b['total_rss_mb']} MB; "
        f"after: server {a['server_rss_mb']} MB + inference {a['inference_rss_mb']} MB (the new process, pid {a['inference_pid']}) "
        f"= {a['total_rss_mb']} MB",
        f"- server alive and healthy afterwards: {payload['server_alive']}", "",
        "| route | requests | 200 | p50 | p99 |", "|---|---|---|---|---|",
        *(f"| `{route}` | {r['requests']} | {r['ok']} | {_ms(r['p50_ms'])} | {_ms(r['p99_ms'])} |" for route, r in payload["routes"].items()),
        "",
        "A shared 2-core host: absolute latencies depend on what else runs; the statuses, the restart and the memory "
        "before/after are the point.", "",
    ]
    md_path.write_text("\n".join(lines))
    return json_path, md_path


def _meta(command: str, threads: int) -> dict:
    return {"command": command, "commit": git_commit(), "threads": threads,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def run(opts: BenchOptions) -> dict:
    """Section `soak` of bench.run."""
    bundle = Path(opts.extra["bundle"]) if opts.extra.get("bundle") else None
    requests = QUICK_REQUESTS if opts.quick else DEFAULT_REQUESTS
    payload = {"meta": {**_meta(opts.command, opts.threads), "quick": opts.quick},
               **soak(requests, DEFAULT_CONCURRENCY, opts.threads, bundle)}
    write_results(opts.results_dir, payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help=f"requests in all (default {DEFAULT_REQUESTS})")
    p.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help=f"requests in flight (default {DEFAULT_CONCURRENCY})")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch threads of the server (default 2)")
    p.add_argument("--bundle", default=None, help="a bundle directory (ner/, stance/) instead of model/bundled")
    p.add_argument("--results-dir", default=str(RESULTS_DIR), help="where soak.json and soak.md go")
    args = p.parse_args(argv)
    if args.requests < 2 or args.concurrency < 1:
        p.error("--requests must be at least 2 and --concurrency at least 1")
    bundle = Path(args.bundle).resolve() if args.bundle else None
    if bundle is not None and not bundle.is_dir():
        p.error(f"--bundle {args.bundle}: no such directory")
    command = "python -m bench.soak " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    payload = {"meta": _meta(command.strip(), args.threads), **soak(args.requests, args.concurrency, args.threads, bundle)}
    json_path, md_path = write_results(Path(args.results_dir), payload)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    return 0 if payload["all_ok"] and payload["server_alive"] and payload["kill"]["restarts_counted"] == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
