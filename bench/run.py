"""`python -m bench.run` (`make bench`): run the benchmark sections and write
`bench/results/<section>.json`, plots and `bench/results/SUMMARY.md`.

Sections: backends, flops, predictor, server, soak, score, gpu (backends runs
before predictor so that the predictor section can use the fastest backend
that keeps quality). `--quick` runs small slices for a smoke check.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys
import time
import traceback
from pathlib import Path

from bench.common import DATA_DIR, RESULTS_DIR, BenchOptions, git_commit, machine_info, write_result

SECTIONS = ("backends", "flops", "predictor", "server", "soak", "score", "gpu")
MODULES = {"backends": "bench.backends", "flops": "bench.flops", "predictor": "bench.predictor_vs_pipeline", "server": "bench.server_load",
           "soak": "bench.soak"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections (default all: {','.join(SECTIONS)})")
    p.add_argument("--quick", action="store_true", help="small slices and short durations: a smoke run, not figures to quote")
    p.add_argument("--data-dir", default=DATA_DIR, help="the shared data directory (KASHIF_DATA_DIR)")
    p.add_argument("--results-dir", default=str(RESULTS_DIR), help="where JSON, plots and SUMMARY.md go")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="threads for every measured process (default 2)")
    p.add_argument("--sentences", type=int, default=None, help="ANERcorp test sentences for the predictor/backends sections (default all; 48/120 with --quick)")
    p.add_argument("--bundle", default=None, help="a bundle directory (ner/, stance/) to measure instead of model/bundled")
    p.add_argument("--compare-bundle", default=None, help="a second bundle (e.g. the previous bundled model) measured side by side "
                   "in the predictor and server sections")
    p.add_argument("--score-rows", type=int, default=None, help="articles for the score section (default: score_bench's own, 10,000; 200 with --quick)")
    p.add_argument("--server-seconds", type=float, default=None, help="seconds per server load level (default 10; 5 with --quick)")
    return p


def _score(opts: BenchOptions) -> dict:
    """The batch-scoring section lives in bench/score_bench.py (its own owner),
    run through its `main(argv)`; it writes bench/results/score.{json,md}."""
    from bench.common import bundled

    try:
        module = importlib.import_module("bench.score_bench")
    except ModuleNotFoundError as err:
        if err.name != "bench.score_bench":
            raise
        return {"skipped": "bench/score_bench.py is not there"}
    bundle = opts.extra.get("bundle")
    if bundle is None and bundled(opts, "ner") is None and bundled(opts, "stance") is None:
        print("  score: skipped, no bundled model (model/bundled/) and no --bundle", flush=True)
        return {"skipped": "no bundled model"}
    argv = ["--data-dir", str(opts.data_dir), "--results-dir", str(opts.results_dir)]
    argv += ["--model", bundle] if bundle else []
    argv += ["--smoke", "--rows", "200"] if opts.quick else []
    argv += ["--rows", str(opts.extra["score_rows"])] if opts.extra.get("score_rows") and not opts.quick else []
    try:
        code = int(module.main(argv) or 0)
    except SystemExit as exc:  # argparse and its own checks exit; that fails this section only
        code = exc.code if isinstance(exc.code, int) else 1
    if code:
        raise RuntimeError(f"bench.score_bench exited with {code}")
    return {"exit_code": code}


def _gpu(opts: BenchOptions) -> dict:
    """The predictor with --device cuda (fp32 and bf16 autocast) on the BERT-base
    shape, when torch sees a CUDA device; otherwise recorded as not measured."""
    import torch

    if not torch.cuda.is_available():
        payload = {"status": "not measured: no GPU lent to this session (torch sees no CUDA device)"}
        write_result(opts, "gpu", payload)
        return payload
    from bench.common import anercorp_sentences, base_ner_model, call_in_subprocess
    from kashif.training.evaluate import join_tokens

    device = torch.cuda.get_device_name(0)
    sentences, _ = anercorp_sentences(opts.anercorp_test, opts.extra.get("sentences") or (48 if opts.quick else None))
    texts = [join_tokens(t)[0] for t in sentences]
    rows = {}
    for precision in ("fp32", "bf16"):
        spec = {"model": str(base_ner_model(opts)), "texts": texts, "threads": opts.threads, "backend": "torch",
                "precision": precision, "device": "cuda", "batch_size": 64}
        out = call_in_subprocess("bench.predictor_vs_pipeline:measure_predictor", spec, threads=opts.threads)
        rows[precision] = {"sentences_per_s": len(texts) / out["seconds"], "seconds": out["seconds"]}
    summary = ", ".join(f"{p} {r['sentences_per_s']:.0f} sentences/s" for p, r in rows.items())
    payload = {"status": f"GPU figure on {device}, BERT-base shape, {len(texts)} ANERcorp test sentences, batch 64: {summary}",
               "device": device, "rows": rows}
    write_result(opts, "gpu", payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        print(f"bench: error: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir).expanduser().resolve()
    if not (data_dir / "ner" / "anercorp" / "test.txt").is_file():
        print(f"bench: error: {data_dir}/ner/anercorp/test.txt not found; pass --data-dir or set KASHIF_DATA_DIR", file=sys.stderr)
        return 2
    command = "python -m bench.run " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    extra = {k: v for k, v in {"sentences": args.sentences, "server_seconds": args.server_seconds, "score_rows": args.score_rows,
                                      "bundle": str(Path(args.bundle).resolve()) if args.bundle else None,
                                      "compare_bundle": str(Path(args.compare_bundle).resolve()) if args.compare_bundle else None,
                                      }.items() if v is not None}
    opts = BenchOptions(data_dir=data_dir, results_dir=Path(args.results_dir), quick=args.quick, threads=args.threads,
                        command=command.strip(), extra=extra)
    opts.results_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    (opts.results_dir / "machine.json").write_text(json.dumps(machine, indent=2) + "\n")

    failed = []
    runners = {**{k: importlib.import_module(m).run for k, m in MODULES.items()}, "score": _score, "gpu": _gpu}
    for section in SECTIONS:
        if section not in only:
            continue
        t0 = time.perf_counter()
        print(f"bench: {section} ...", flush=True)
        try:
            runners[section](opts)
            print(f"bench: {section} done in {time.perf_counter() - t0:.0f} s", flush=True)
        except (Exception, SystemExit) as err:  # one failed section must not lose the others
            failed.append(section)
            traceback.print_exc()
            print(f"bench: {section} FAILED after {time.perf_counter() - t0:.0f} s: {type(err).__name__}: {err}", file=sys.stderr, flush=True)

    from bench.summary import write_summary

    path = write_summary(opts.results_dir, opts.command, machine, opts.quick, git_commit(), opts.started)
    print(f"bench: wrote {path}" + (f"; failed sections: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
