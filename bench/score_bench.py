"""Bench for `kashif score`: docs/s and peak RSS (whole process tree) on a
JSONL of real article bodies, with --workers 1, --workers 2 and --engine ray.

    python -m bench.score_bench                       # 10,000 rows, the bundled model
    python -m bench.score_bench --rows 500 --smoke --model /tmp/bundle

The input is built under /tmp from $KASHIF_DATA_DIR/corpus/ant_*.jsonl.gz
(default ../shared/data); nothing is written into the repository except
bench/results/score.{json,md}.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import BUNDLED_DIR, DATA_DIR, REPO, RESULTS_DIR, git_commit, machine_info

_SUMMARY = re.compile(r"([\d.]+) docs/s \((\d+) rows in ([\d.]+) s\)")


@dataclass
class Run:
    name: str
    command: str
    exit_code: int
    rows: int
    wall_s: float
    docs_per_s: float  # rows / wall time of the whole command (model loading included)
    scorer_docs_per_s: float | None  # the scorer's own summary figure
    peak_rss_mb: float  # sum over the process tree, sampled every 0.1 s
    summary: str


def build_input(data_dir: Path, rows: int, workdir: Path) -> Path:
    """`rows` article bodies from the ANT corpora as {"id", "text"} JSONL."""
    target = workdir / f"ant_bodies_{rows}.jsonl"
    if target.is_file() and sum(1 for _ in open(target, "rb")) == rows:
        return target
    sources = sorted((data_dir / "corpus").glob("ant_*.jsonl.gz"))
    if not sources:
        raise SystemExit(f"no {data_dir}/corpus/ant_*.jsonl.gz; set KASHIF_DATA_DIR or --data-dir")
    tmp = target.with_suffix(".tmp")
    written = 0
    with open(tmp, "w", encoding="utf-8") as out:
        for source in sources:
            with gzip.open(source, "rt", encoding="utf-8") as f:
                for line in f:
                    article = json.loads(line)
                    text = (article.get("text") or "").strip()
                    if text:
                        out.write(json.dumps({"id": article.get("id", written), "text": text}, ensure_ascii=False) + "\n")
                        written += 1
                    if written >= rows:
                        break
            if written >= rows:
                break
    os.replace(tmp, target)
    return target


def _tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def measure(name: str, command: list[str], rows: int, timeout: float) -> Run:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    peak = 0.0
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        while proc.poll() is None:
            peak = max(peak, _tree_rss_mb(proc.pid))
            if time.perf_counter() - started > timeout:
                proc.kill()
            time.sleep(0.1)
        wall = time.perf_counter() - started
        stderr.seek(0)
        lines = [l for l in stderr.read().splitlines() if l.startswith("kashif score")]
    summary = lines[-1] if lines else ""
    match = _SUMMARY.search(summary)
    return Run(name, shlex.join(command), proc.returncode, rows, round(wall, 1), round(rows / wall, 2),
               float(match.group(1)) if match else None, round(peak, 1), summary)


def _without_scores(output: bytes) -> str:
    """Records with scores dropped: engines that group rows into batches
    differently pad differently, which can move a score's 4th decimal (and,
    at a near tie, a label)."""
    rows = []
    for line in output.splitlines():
        record = json.loads(line)
        for e in record.get("entities", ()):
            e.pop("score")
        for s in record.get("stance", ()):
            s.pop("scores")
        rows.append(record)
    return json.dumps(rows, ensure_ascii=False, sort_keys=True)


def _markdown(result: dict) -> str:
    lines = [f"# kashif score bench{' (SMOKE RUN: small slice, not the figures to quote)' if result['smoke'] else ''}", ""]
    lines += [f"- date: {result['date']}", f"- commit: {result['commit']}", f"- command: `{result['command']}`",
              f"- input: {result['rows']} ANT article bodies ({result['input_mb']} MB JSONL), model `{result['model']}` {result['model_shape']}",
              f"- machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, {result['machine']['memory_gib']} GiB; "
              f"load average at start {result['machine']['load_average_at_start']}",
              f"- outputs identical across runs: {result['outputs_identical']}; identical except score rounding: {result['outputs_identical_except_scores']}", ""]
    load, cores = result["machine"]["load_average_at_start"][0], result["machine"]["cores"] or 1
    if load > cores:
        lines += [f"Note: the machine was oversubscribed (load {load} on {cores} cores, other jobs running): the figures, and above all the "
                  "workers speed-up, say more about contention than about the scorer.", ""]
    lines += ["| run | exit | wall s | docs/s (wall) | docs/s (scorer) | peak RSS MB (tree) |", "|---|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(f"| {r['name']} | {r['exit_code']} | {r['wall_s']} | {r['docs_per_s']} | {r['scorer_docs_per_s']} | {r['peak_rss_mb']} |")
    lines += ["", "Commands:", ""] + [f"- {r['name']}: `{r['command']}`" for r in result["runs"]]
    if result.get("speedup_workers2") is not None:
        lines += ["", f"--workers 2 vs --workers 1 (wall docs/s): ×{result['speedup_workers2']}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.score_bench")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--model", default=str(BUNDLED_DIR), help="bundle directory (default: the bundled model)")
    parser.add_argument("--data-dir", default=DATA_DIR,
                        help="the shared data directory (KASHIF_DATA_DIR)")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "kashif-score-bench"))
    parser.add_argument("--chunk-size", type=int, default=128)
    parser.add_argument("--target", default="الحكومة", help="stance target asked of every row")
    parser.add_argument("--runs", default="workers1,workers2,ray,seeds")
    parser.add_argument("--smoke", action="store_true", help="mark the results as a smoke run")
    parser.add_argument("--timeout", type=float, default=3 * 3600)
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    source = build_input(Path(args.data_dir), args.rows, workdir)
    base = [sys.executable, "-m", "kashif", "score", str(source), "--model", args.model, "--target", args.target,
            "--chunk-size", str(args.chunk_size), "-q"]
    variants = {
        "workers1": ["--workers", "1"],
        "workers2": ["--workers", "2"],
        "ray": ["--engine", "ray", "--ray-concurrency", "2", "--num-cpus", "1"],
    }
    runs: list[Run] = []
    outputs: list[bytes] = []
    for name in args.runs.split(","):
        if name == "seeds":
            seeds = sorted(str(p) for p in (REPO / "seeds").glob("*.txt"))
            n = sum(1 for p in seeds for line in open(p, encoding="utf-8") if line.strip())
            out = workdir / "seeds.jsonl"
            cmd = [sys.executable, "-m", "kashif", "score", *seeds, "--output", str(out), "--model", args.model, "--target", args.target, "-q"]
            runs.append(measure("seeds (txt)", cmd, n, args.timeout))
            continue
        out = workdir / f"out_{name}.jsonl"
        for stale in (out, out.with_name(out.name + ".errors.jsonl")):
            stale.unlink(missing_ok=True)
        runs.append(measure(name, [*base, "--output", str(out), *variants[name]], args.rows, args.timeout))
        if out.is_file():
            outputs.append(out.read_bytes())
        print(f"{name}: {runs[-1].summary or 'exit ' + str(runs[-1].exit_code)}", file=sys.stderr)

    by_name = {r.name: r for r in runs}
    shape = {}
    try:
        config = json.loads((Path(args.model) / "ner" / "config.json").read_text())
        shape = {k: config.get(k) for k in ("hidden_size", "num_hidden_layers", "vocab_size")}
    except OSError:
        pass
    result = {
        "section": "score",
        "smoke": args.smoke,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "command": shlex.join([sys.executable, "-m", "bench.score_bench", *(argv if argv is not None else sys.argv[1:])]),
        "rows": args.rows,
        "input_mb": round(source.stat().st_size / 2**20, 1),
        "model": args.model,
        "model_shape": shape,
        "machine": machine_info(),
        "outputs_identical": len(set(outputs)) == 1 if outputs else None,
        "outputs_identical_except_scores": len({_without_scores(o) for o in outputs}) == 1 if outputs else None,
        "speedup_workers2": round(by_name["workers2"].docs_per_s / by_name["workers1"].docs_per_s, 2)
        if "workers1" in by_name and "workers2" in by_name and by_name["workers1"].docs_per_s else None,
        "runs": [asdict(r) for r in runs],
    }
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "score.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    (results_dir / "score.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0 if all(r.exit_code in (0, 1) for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
