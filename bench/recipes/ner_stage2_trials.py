"""The pieces of `bench/results/ner_stage2_trials.md` that the bundled-model recipe does not hold:

    # training file of the "2,334 NewsFANE sentences without MISC, every ORG ≥ 2 words" row
    python bench/recipes/ner_stage2_trials.py data --work WORK
    # a weight average (WiSE-FT) of two models of the same shape: (1 - alpha)·A + alpha·B
    python bench/recipes/ner_stage2_trials.py average A_DIR B_DIR --alpha 0.5 --output OUT_DIR

Each trial is then `kashif train ner --base-model model/bundled/ner ...` on its file and
`bench/recipes/ner_levers.py --model RUN --variants constrained`, as the results file says.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.common import DATA_DIR  # noqa: E402
from bench.recipes.bundled_model import _write_jsonl, ood_split, prepare_ner_data  # noqa: E402


def no_misc_multiword_org(data: Path, work: Path) -> Path:
    """ANERcorp train 90 % + NewsFANE training-part sentences that hold an entity, no MISC
    (NewsFANE's MISC is not ANERcorp's) and no one-word ORG (its nominal `الحكومة`, `الجيش`)."""
    from kashif.training.augment import entity_spans

    base, _ = prepare_ner_data(data, work, [])
    rows = [json.loads(line) for line in open(base, encoding="utf-8")]
    for row in ood_split(data, "newsfane")[0]:
        spans = entity_spans(row["tags"])
        if spans and not any(kind == "MISC" or (kind == "ORG" and end - start < 2) for start, end, kind in spans):
            rows.append(row)
    path = work / "data" / "ner_stage2_t5.jsonl"
    _write_jsonl(path, rows)
    return path


def average(a: Path, b: Path, alpha: float, output: Path) -> Path:
    """`output`: B's directory with weights (1 - alpha)·A + alpha·B, in fp32."""
    from safetensors.torch import load_file, save_file

    def weights(d: Path) -> dict:
        out = {}
        for f in sorted(d.glob("model*.safetensors")):  # one file or shards
            out.update(load_file(f))
        return out

    wa, wb = weights(a), weights(b)
    if wa.keys() != wb.keys():
        raise SystemExit(f"{a} and {b} do not hold the same tensors")
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(b, output, ignore=shutil.ignore_patterns("checkpoints", "model*.safetensors", "model.safetensors.index.json"))
    save_file({k: ((1 - alpha) * wa[k].float() + alpha * wb[k].float()).contiguous() for k in wa},
              output / "model.safetensors", metadata={"format": "pt"})
    return output


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("data")
    d.add_argument("--data-dir", default=DATA_DIR)
    d.add_argument("--work", required=True)
    a = sub.add_parser("average")
    a.add_argument("a")
    a.add_argument("b")
    a.add_argument("--alpha", type=float, required=True)
    a.add_argument("--output", required=True)
    args = p.parse_args(argv)
    if args.command == "data":
        print(no_misc_multiword_org(Path(args.data_dir).resolve(), Path(args.work).resolve()))
    else:
        print(average(Path(args.a), Path(args.b), args.alpha, Path(args.output)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
