"""The `other` offset sweep of `bench/results/topic_stance_trials.md`: one stance model's dev scores at each offset.

    python bench/recipes/offset_sweep.py --model DIR --work WORK [--from -2 --to 1.5]

WORK is the bundled-model recipe's work dir (its `data/mawqif_dev.csv` and `data/baly_fold1.csv`). Offsets are added
to the model's `other` log-probability as it is (one already folded in by `kashif tune-bias` counts from there).
Prints ANS dev macro-F1, Mawqif dev F1(agree, disagree) over topics and `other` F1, and Baly fold 1 macro-F1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.common import DATA_DIR  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--data-dir", default=DATA_DIR)
    p.add_argument("--from", dest="start", type=float, default=-2.0)
    p.add_argument("--to", dest="stop", type=float, default=1.5)
    args = p.parse_args(argv)
    from kashif.model.predictor import Predictor, PredictorConfig
    from kashif.training.data import StanceColumns, load_stance
    from kashif.training.label_bias import log_probs, shifted_labels, topic_score
    from kashif.training.metrics import stance_metrics
    from kashif.training.stance_maps import parse_label_map, parse_target_map

    columns = StanceColumns("s2", "s1", "stance")
    work = Path(args.work) / "data"
    sets = {
        "ANS dev": load_stance(Path(args.data_dir) / "stance" / "ans" / "stance" / "dev.csv", columns=columns),
        "Mawqif dev": load_stance(work / "mawqif_dev.csv", label_map=parse_label_map("mawqif"),
                                  target_map=parse_target_map("mawqif")),
        "Baly fold 1": load_stance(work / "baly_fold1.csv", columns=columns),
    }
    predictor = Predictor.from_refs(stance_model=args.model, tasks=("stance",), config=PredictorConfig(precision="fp32"))
    labels = predictor.labels("stance")
    probs = {name: log_probs(predictor, data, labels) for name, data in sets.items()}
    print("| offset | ANS dev macro-F1 | Mawqif dev F1(agree, disagree) | Mawqif other F1 | Baly fold 1 macro-F1 |")
    print("|---|---|---|---|---|")
    for offset in np.arange(args.start, args.stop + 1e-9, 0.25):
        scores = {}
        for name, data in sets.items():
            predicted = shifted_labels(probs[name], labels, "other", float(offset))
            scores[name] = stance_metrics(data["label"], predicted, labels,
                                          targets=data["target"] if name == "Mawqif dev" else None)
        topics = scores["Mawqif dev"]
        print(f"| {offset:+.2f} | {100 * scores['ANS dev']['macro_f1']:.1f} | {100 * topic_score(topics):.1f} | "
              f"{100 * topics['per_class']['other']['f1']:.1f} | {100 * scores['Baly fold 1']['macro_f1']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
