"""The training and dev files of the Baly 2018 trial in `bench/results/topic_stance_trials.md`:

    python bench/recipes/baly_trial.py --mix WORK/data/stance_train_x2.csv --output OUT

`--mix` is the bundled stance model's own training file (ANS + re-paired `other` + Mawqif × 2, written by
`bundled_model.py --tasks stance --mawqif-copies 2`). Writes OUT/train_control.csv (4,852 pairs of the mix),
OUT/train_baly.csv (2,426 pairs of the mix + Baly's 2,426 pairs of every fold but 1) and OUT/dev_baly.csv (fold 1),
then prints the commands that trained and scored both arms.
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.common import DATA_DIR  # noqa: E402

FIELDS = ("s1", "s2", "stance")


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mix", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--data-dir", default=DATA_DIR)
    args = p.parse_args(argv)
    from kashif.training.data import load_stance
    from kashif.training.stance_maps import parse_label_map

    baly = Path(args.data_dir) / "stance" / "baly2018"
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    def baly_rows(folds: str) -> list[dict]:
        return [{"s1": r["target"], "s2": r["text"], "stance": r["label"]}
                for r in load_stance(f"{baly}@{folds}", label_map=parse_label_map("baly"))]

    mix = [{k: r[k] for k in FIELDS} for r in csv.DictReader(open(args.mix, encoding="utf-8"))]
    random.Random(0).shuffle(mix)
    train = baly_rows("-1")
    n = len(train)
    _write(out / "train_baly.csv", mix[:n] + train)
    _write(out / "train_control.csv", mix[:2 * n])
    _write(out / "dev_baly.csv", baly_rows("1"))
    for arm in ("baly", "control"):
        print(f"kashif train stance --train {out}/train_{arm}.csv --dev {args.data_dir}/stance/ans/stance/dev.csv "
              f"--base-model model/bundled/stance --output {out}/m_{arm} --epochs 1 --learning-rate 2e-5 --batch-size 32 "
              "--warmup 0.1 --class-weights --seed 1")
    print(f"kashif evaluate --stance-model MODEL --task stance --data {out}/dev_baly.csv   # and ANS dev, and Mawqif dev "
          "with --label-map mawqif --target-map mawqif")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
