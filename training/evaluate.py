"""`kashif evaluate`: score a model on a labeled file through the shared Predictor, for any task of the registry.

The model sees raw sentence text, exactly as the server does: for a token task (NER) each sentence is its gold
tokens joined by single spaces, entities come back as character spans, and those spans are mapped back onto the
gold tokens as BIO tags before seqeval scores them. A sequence task (stance, classify) is scored per class on
labeled rows: (text, target) pairs or texts alone, as the task's inputs say.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from kashif.model.annotation_formats import IMPORT_FORMATS, looks_like_label_studio
from kashif.model.tasks import PAIR, TOKEN, task_named
from kashif.training.data import DataError, StanceColumns, data_fingerprint, format_skipped, load_stance, read_ner
from kashif.training.metrics import format_ner_table, format_stance_table, ner_metrics, stance_metrics
from kashif.training.stance_maps import parse_label_map, parse_target_map
from kashif.training.tagmaps import parse_tag_map

CHUNK = 256  # sentences per Predictor call, for the progress bar


def join_tokens(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The sentence text (tokens joined by single spaces) and each token's span."""
    spans, pos = [], 0
    for token in tokens:
        spans.append((pos, pos + len(token)))
        pos += len(token) + 1
    return " ".join(tokens), spans


def entities_to_tags(spans: Sequence[tuple[int, int]], entities) -> list[str]:
    """BIO tags over tokens from character-span entities: a token takes the
    first entity it overlaps; the entity's first token gets B-."""
    tags = ["O"] * len(spans)
    for entity in sorted(entities, key=lambda e: (e.start, e.end)):
        covered = [i for i, (s, e) in enumerate(spans) if s < entity.end and e > entity.start and tags[i] == "O"]
        for n, i in enumerate(covered):
            tags[i] = ("B-" if n == 0 else "I-") + entity.label
    return tags


def _chunks(n: int, size: int, desc: str):
    from tqdm.auto import tqdm

    starts = range(0, n, size)
    return tqdm(starts, desc=desc, unit_scale=size, disable=n <= size, leave=False)


def evaluate_ner(predictor, dataset, task: str = "ner") -> dict:
    gold, pred = [], []
    tokens_all = dataset["tokens"]
    tags_all = dataset["tags"]
    for start in _chunks(len(tokens_all), CHUNK, "sentences"):
        batch = tokens_all[start : start + CHUNK]
        joined = [join_tokens(tokens) for tokens in batch]
        found = predictor.run(task, [text for text, _ in joined])
        for (_, spans), entities in zip(joined, found):
            pred.append(entities_to_tags(spans, entities))
        gold.extend(tags_all[start : start + CHUNK])
    return ner_metrics(gold, pred)


def evaluate_sequences(predictor, dataset, task: str = "stance") -> dict:
    """Per-class scores of a sequence task on labeled rows (`text`, `target`, `label`; targets only for a pair task)."""
    pairs = task_named(task).inputs == PAIR
    texts, targets, gold = dataset["text"], dataset["target"], dataset["label"]
    pred: list[str] = []
    for start in _chunks(len(texts), CHUNK, "pairs" if pairs else "texts"):
        chunk = texts[start : start + CHUNK]
        items = list(zip(chunk, targets[start : start + CHUNK])) if pairs else chunk
        pred.extend(r.label for r in predictor.run(task, items))
    return stance_metrics(gold, pred, predictor.labels(task), targets=targets if pairs else None)


def guess_task(path: str, fmt: str = "auto") -> str | None:
    """ner or stance from the shape of a data file, when the model alone can't tell (classify data looks like
    stance data without targets: name it with --task)."""
    if fmt in IMPORT_FORMATS or looks_like_label_studio(path):
        return "ner"  # annotation-tool files hold entities
    p = Path(path)
    if p.is_dir():
        return "stance" if any(p.glob("*.json")) or (p / "dataset").is_dir() else None
    suffix = p.suffix.lower()
    if suffix in (".txt", ".conll", ".iob", ".bio", ".conllu"):
        return "ner"
    try:
        with p.open(encoding="utf-8-sig") as f:
            first = f.readline()
    except (OSError, UnicodeDecodeError):
        return None
    if suffix in (".jsonl", ".json", ".ndjson"):
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            return None
        return "ner" if isinstance(obj, dict) and ("tokens" in obj or "entities" in obj) else "stance"
    if suffix in (".csv", ".tsv"):
        header = first.lower()
        return "ner" if ("word" in header or "token" in header) and "sentence" in header else "stance"
    return None


def check_data_path(data: str) -> None:
    """A DataError when `data` is neither an existing path nor a hub dataset id / Baly fold (`name@k`)."""
    if not Path(data).exists() and "@" not in data and "/" not in data:
        raise DataError(f"{data}: no such file or directory")


def task_to_evaluate(predictor, data: str, task: str | None = None, fmt: str = "auto") -> str:
    """The task `predictor` is scored on: `task`, else the model's only one, else the one the data looks like."""
    loaded = list(predictor.tasks)
    if task is None:
        task = loaded[0] if len(loaded) == 1 else guess_task(data, fmt)
        if task is None:
            raise DataError(f"{data}: cannot tell which task this data is for; pass --task")
    if task not in loaded:
        raise DataError(f"the model has no {task} part (it has: {', '.join(loaded)})")
    return task


def evaluate(
    predictor,
    data: str,
    task: str,
    *,
    tag_map: str | None = None,
    columns: StanceColumns | None = None,
    split: str | None = None,
    fmt: str = "auto",
    label_map: str | None = None,
    target_map: str | None = None,
) -> dict:
    """Load `data`, check its labels against the model's, run the Predictor, return the report."""
    spec = task_named(task)
    labels = predictor.labels(task)
    if spec.head == TOKEN:
        loaded = read_ner(data, tag_map=parse_tag_map(tag_map), labels=labels, split=split or "test", fmt=fmt)
        dataset, skipped = loaded.dataset, loaded.skipped
        metrics = evaluate_ner(predictor, dataset, task)
    else:
        dataset = load_stance(data, columns=columns, labels=labels, split=split or "test", fmt=fmt,
                              label_map=parse_label_map(label_map), target_map=parse_target_map(target_map),
                              pairs=spec.inputs == PAIR)
        skipped = None
        metrics = evaluate_sequences(predictor, dataset, task)
    info = predictor.info().get(task, {})
    report = {
        "task": task,
        "model": info.get("source"),
        "data": data_fingerprint(data),
        "examples": len(dataset),
        "metrics": metrics,
        "predictor": info,
    }
    if skipped is not None:  # an annotation-tool file: the records set aside
        report["skipped"] = dict(skipped)
    return report


def format_report(report: dict) -> str:
    m = report["metrics"]
    head = f"{report['task']} · model {report['model']} · data {report['data']['path']} · {report['examples']} examples"
    if "skipped" in report:
        head += f" · records skipped: {format_skipped(report['skipped'])}"
    if task_named(report["task"]).head == TOKEN:
        body = format_ner_table(m)
        summary = f"micro F1 {m['f1']:.4f} · macro F1 {m['macro_f1']:.4f} · token accuracy {m['accuracy']:.4f}"
    else:
        body = format_stance_table(m)
        summary = f"accuracy {m['accuracy']:.4f} · macro F1 {m['macro_f1']:.4f}"
    return "\n".join([head, "", body, "", summary])


__all__ = ["DataError", "check_data_path", "evaluate", "evaluate_ner", "evaluate_sequences", "entities_to_tags", "format_report", "guess_task", "join_tokens", "task_to_evaluate"]
