"""Two NER models timed alternately in one process, so that the shared host's drift
falls on both alike: each pass runs every ANERcorp test sentence through the Predictor
(torch fp32 by default), model A then model B, `--rounds` times; the median is reported.

    .venv/bin/python bench/recipes/ner_speed_alternating.py --model model/bundled/ner --model PREVIOUS/ner

Results: bench/results/ner_speed_alternating.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.common import DATA_DIR, anercorp_sentences, git_commit  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, help="NER model dir (repeatable; timed in turn)")
    p.add_argument("--data-dir", default=DATA_DIR)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--backend", default="torch")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--results", default=str(REPO / "bench" / "results" / "ner_speed_alternating"))
    args = p.parse_args(argv)
    from kashif.model.predictor import Predictor, PredictorConfig
    from kashif.training.evaluate import join_tokens

    texts = [join_tokens(t)[0] for t in anercorp_sentences(Path(args.data_dir) / "ner" / "anercorp" / "test.txt")[0]]
    config = PredictorConfig(backend=args.backend, precision=args.precision)
    predictors = {m: Predictor.from_refs(ner_model=m, config=config, tasks=("ner",)) for m in args.model}
    for predictor in predictors.values():
        predictor.entities(texts[:50])  # warm-up: first-call allocations and the piece cache's common words
    rates: dict[str, list[float]] = {m: [] for m in args.model}
    for _ in range(args.rounds):
        for model, predictor in predictors.items():
            t0 = time.perf_counter()
            predictor.entities(texts)
            rates[model].append(len(texts) / (time.perf_counter() - t0))
    result = {"commit": git_commit(), "command": " ".join(["python", "bench/recipes/ner_speed_alternating.py", *(argv or sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "sentences": len(texts),
              "backend": args.backend, "precision": args.precision,
              "models": {m: {"sentences_per_s": [round(r, 2) for r in v], "median": round(statistics.median(v), 2)} for m, v in rates.items()}}
    stem = Path(args.results)
    stem.with_suffix(".json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    lines = ["# Two NER models timed alternately", "", f"- commit: `{result['commit']}`", f"- command: `{result['command']}`",
             f"- date: {result['date']}", f"- {len(texts)} ANERcorp test sentences a pass, Predictor {args.backend} {args.precision}, "
             f"{args.rounds} rounds, A then B each round", "", "| model | sentences/s, each round | median |", "|---|---|---|"]
    lines += [f"| `{m}` | {', '.join(f'{r:.1f}' for r in v['sentences_per_s'])} | **{v['median']:.1f}** |" for m, v in result["models"].items()]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for m, v in result["models"].items():
        print(f"{m}: median {v['median']:.1f} sentences/s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
