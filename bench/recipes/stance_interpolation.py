"""Dev probe: interpolate two stance models of one lineage and score the mix on dev only.

    .venv/bin/python bench/recipes/stance_interpolation.py --start DIR_A --end DIR_B --alphas 0.25,0.5,0.75 \
        --work /work/runs/interpolation

The weights are θ(α) = (1 − α)·A + α·B (WiSE-FT, Wortsman et al. 2022): with B fine-tuned further from A (the Baly
bundle continues the claims-and-topics one), the path between them trades what B learnt against what A kept. Each
mix gets its `other` offset tuned as the recipe tunes it (`kashif tune-bias --topic-dev`) and is scored on ANS dev,
Mawqif dev (per topic, F1 of agree and disagree) and Baly fold 1; α = 0 and 1 are A and B themselves, re-tuned the
same way. Never test: a mix worth shipping is rebuilt per seed by the recipe and scored on test there.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.recipes.bundled_model import (STANCE_COLUMNS, baly_dev_file, evaluate, evaluate_mawqif, kashif,  # noqa: E402
                                         mawqif_split, parse_args, topic_dev_file)
from bench.recipes.ner_stage2_trials import average  # noqa: E402 - the weight average, for any two models of one shape


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", required=True, type=Path, help="model A (α = 0)")
    p.add_argument("--end", required=True, type=Path, help="model B (α = 1), fine-tuned further from A")
    p.add_argument("--alphas", default="0,0.25,0.5,0.75,1")
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--output", type=Path, help="JSON of the scores (default WORK/interpolation.json)")
    own, rest = p.parse_known_args(argv)
    recipe = parse_args(["--work", str(own.work), *rest])  # the recipe's data settings (Mawqif dev split etc.)
    data, work = Path(recipe.data_dir), own.work
    ans_dev = data / "stance" / "ans" / "stance" / "dev.csv"
    mawqif_dev, topic_dev, baly_dev = mawqif_split(recipe, data, work)[1], topic_dev_file(recipe, data, work), baly_dev_file(data, work)
    results = {}
    for alpha in [float(a) for a in own.alphas.split(",")]:
        model = work / f"alpha_{alpha:g}"
        if not (model / "label_bias.json").is_file():  # a finished mix is kept: its offset is folded in
            average(own.start, own.end, alpha, model)
            kashif(["tune-bias", "--model", str(model), "--label", "other", "--dev", str(ans_dev), "--topic-dev", str(topic_dev),
                    *STANCE_COLUMNS], work / "logs" / f"{model.name}_bias.log", recipe.threads)
        ans = evaluate(model, "stance", ans_dev, work, recipe.threads, STANCE_COLUMNS, name="ans_dev")
        topics = evaluate_mawqif(model, mawqif_dev, work, recipe.threads)
        baly = evaluate(model, "stance", baly_dev, work, recipe.threads, STANCE_COLUMNS, name="baly_dev")
        bias = json.loads((model / "label_bias.json").read_text(encoding="utf-8"))
        results[f"{alpha:g}"] = {"other_offset": bias["offset"], "objective": bias["objective"], "objective_value": 100 * bias["objective_after"],
                                 "ans_dev_macro_f1": 100 * ans["macro_f1"],
                                 "mawqif_dev_f1_agree_disagree": 100 * topics["f1_agree_disagree_by_target"],
                                 "mawqif_dev_by_target": {t: 100 * v["f1_agree_disagree"] for t, v in topics["by_target"].items()},
                                 "baly_fold1_macro_f1": 100 * baly["macro_f1"]}
        row = results[f"{alpha:g}"]
        print(f"α {alpha:g}: ANS dev {row['ans_dev_macro_f1']:.1f} | Mawqif dev {row['mawqif_dev_f1_agree_disagree']:.1f} | "
              f"Baly fold 1 {row['baly_fold1_macro_f1']:.1f} | offset {row['other_offset']}", flush=True)
    out = own.output or work / "interpolation.json"
    out.write_text(json.dumps({"start": str(own.start), "end": str(own.end), "results": results}, indent=2, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
