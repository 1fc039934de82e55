"""Decoding levers for NER, measured on dev: each NER model is run once per decoding
variant over ANERcorp dev (the recipe's 10 % of train) and the out-of-domain dev sets
(held-out NewsFANE documents and CAraNER sentences, mapped onto the four types).

    .venv/bin/python bench/recipes/ner_levers.py --model model/bundled/ner --work ../runs/bundled_v2

The dev files come from `bench/recipes/bundled_model.py` (it writes them under WORK/data).
Results: bench/results/ner_levers.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.common import DATA_DIR  # noqa: E402
from bench.recipes.bundled_model import git_commit, ood_dev_files, prepare_ner_data  # noqa: E402

VARIANTS = {
    "argmax": {"ner_decoding": "argmax", "document_context": False},
    "constrained": {"ner_decoding": "constrained", "document_context": False},
    "constrained + document context": {"ner_decoding": "constrained", "document_context": True},
}
PERS_LOC = ("PERS", "LOC")


DOCUMENT_SENTENCES = 10  # consecutive sentences read as one document (NewsFANE keeps its documents in order)


def score(predictor, path: Path, document_sentences: int = 1) -> dict:
    """Entity F1 (all types, and PERS+LOC) of `predictor` on a JSONL/CoNLL file, reading
    `document_sentences` consecutive sentences as one document (one per line)."""
    from kashif.training.data import load_ner
    from kashif.training.evaluate import entities_to_tags, join_tokens
    from kashif.training.metrics import keep_types, ner_metrics

    ds = load_ner(path)
    gold, pred = list(ds["tags"]), []
    sentences = [join_tokens(tokens) for tokens in ds["tokens"]]
    for first in range(0, len(sentences), document_sentences):
        group = sentences[first:first + document_sentences]
        offsets, pos = [], 0
        for text, _ in group:
            offsets.append(pos)
            pos += len(text) + 1
        (found,) = predictor.entities(["\n".join(text for text, _ in group)])
        for (_, spans), offset in zip(group, offsets):
            pred.append(entities_to_tags([(s + offset, e + offset) for s, e in spans], found))
    full = ner_metrics(gold, pred)
    subset = ner_metrics([keep_types(t, PERS_LOC) for t in gold], [keep_types(p, PERS_LOC) for p in pred])
    return {"f1": round(100 * full["f1"], 2), "pers_loc_f1": round(100 * subset["f1"], 2),
            "per_type": {k: round(100 * v["f1"], 2) for k, v in full["per_type"].items()},
            "precision": round(100 * full["precision"], 2), "recall": round(100 * full["recall"], 2),
            "sentences": len(gold), "document_sentences": document_sentences}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, help="NER model dir (repeatable)")
    p.add_argument("--data-dir", default=DATA_DIR)
    p.add_argument("--work", default=str(REPO.parent / "runs" / "bundled_v2"))
    p.add_argument("--extra-ner", default="caraner,newsfane")
    p.add_argument("--variants", default=",".join(VARIANTS), help="decoding variants to run (comma-separated)")
    p.add_argument("--results", default=str(REPO / "bench" / "results" / "ner_levers"))
    args = p.parse_args(argv)
    from kashif.model.predictor import Predictor, PredictorConfig

    data, work = Path(args.data_dir).resolve(), Path(args.work).resolve()
    variants = args.variants.split(",")
    extra = [x for x in args.extra_ner.split(",") if x]
    sets = {"ANERcorp dev": prepare_ner_data(data, work, extra)[1],
            **{f"OOD {name}": path for name, path in ood_dev_files(data, work, extra).items()}}
    result = {"commit": git_commit(), "command": " ".join(["python", "bench/recipes/ner_levers.py", *(argv or sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "models": {}}
    for model in args.model:
        rows = {}
        for name, settings in VARIANTS.items():
            if name not in variants:
                continue
            predictor = Predictor.from_refs(ner_model=model, config=PredictorConfig(**settings), tasks=("ner",))
            rows[name] = {set_name: score(predictor, path, DOCUMENT_SENTENCES if "newsfane" in set_name else 1)
                          for set_name, path in sets.items()}
            print(f"{model} · {name}: " + " · ".join(f"{k} F1 {v['f1']:.1f} (PERS+LOC {v['pers_loc_f1']:.1f})"
                                                     for k, v in rows[name].items()), flush=True)
        result["models"][model] = rows
    stem = Path(args.results)
    stem.with_suffix(".json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    lines = ["# NER decoding levers on dev", "", f"- commit: `{result['commit']}`", f"- command: `{result['command']}`",
             f"- date: {result['date']}", "",
             "Entity micro-F1 (seqeval); PERS+LOC = F1 over those two types only (the out-of-domain sets' ORG and MISC "
             "follow other annotation schemes). ANERcorp dev is a random 10 % of train and CAraNER ships its sentences "
             f"shuffled, so each of their sentences is a document of its own; NewsFANE is read {DOCUMENT_SENTENCES} "
             "consecutive sentences to a document, which is where document context can act. Every bundled NER model so far "
             "began from the stage 1 of 2026-12-03, which saw all of CAraNER and NewsFANE before this held-out split "
             "existed, so their OOD scores are optimistic; they share that advantage and compare side by side.", ""]
    for model, rows in result["models"].items():
        names = list(next(iter(rows.values())))
        lines += [f"## {model}", "", "| decoding | " + " | ".join(f"{n} F1 | {n} PERS+LOC" for n in names) + " |",
                  "|---|" + "---|---|" * len(names)]
        for variant, scores in rows.items():
            lines.append(f"| {variant} | " + " | ".join(f"{scores[n]['f1']:.1f} | {scores[n]['pers_loc_f1']:.1f}" for n in names) + " |")
        lines.append("")
    stem.with_suffix(".md").write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
