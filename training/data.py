"""Labeled corpora → `datasets.Dataset`.

NER datasets have columns `tokens` (list[str]) and `tags` (list[str], BIO);
stance datasets have `text`, `target` (str or None) and `label`. Every
problem in the input is a `DataError` naming the file, the line (or row) and
what is wrong; nothing is skipped silently.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from datasets import Dataset, DatasetDict, load_from_disk

from kashif.model.annotation_formats import (
    IMPORT_FORMATS,
    AnnotationError,
    looks_like_label_studio,
    read_annotations,
    tag_sentences,
)
from kashif.model.errors import KashifError
from kashif.model.inputs import format_from_name, open_text, read_text, strip_bidi_marks
from kashif.model.messages import first_line
from kashif.training.tagmaps import apply_tag_map

NER_FORMATS = ("conll", "jsonl", "csv", "disk", *IMPORT_FORMATS)  # IMPORT_FORMATS: label-studio, prodigy
STANCE_FORMATS = ("csv", "tsv", "jsonl", "disk", "baly")


class DataError(KashifError, ValueError):
    """Bad training/evaluation data; the message says where and what."""


def _strip_marks(text: str) -> str:
    """Directional marks and BOMs that corpora leave inside tokens (NewsFANE
    prefixes almost every token with U+200E); they are never part of a word."""
    return strip_bidi_marks(text, bom=True)


def _is_mark_only(raw_token: str, tag: str) -> bool:
    """A token made only of directional marks, tagged O (CAraNER has a few):
    not a word (`split_words` treats marks as spaces), so it is dropped. With
    an entity tag it stays an error."""
    return bool(raw_token.strip()) and not _strip_marks(raw_token).strip() and tag == "O"


# --------------------------------------------------------------------------- NER


@dataclass
class _Sentence:
    tokens: list[str]
    tags: list[str]
    where: list[str]  # "file:line" per token, for error messages


@dataclass
class NerData:
    dataset: Dataset
    skipped: Counter | None = None  # annotation-tool files: records set aside (reason → count)


def load_ner(
    path: str | Path,
    *,
    tag_map: dict[str, str] | None = None,
    labels: Sequence[str] | None = None,
    split: str | None = None,
    fmt: str = "auto",
) -> Dataset:
    """Load a NER corpus (CoNLL, JSONL, CSV, Label Studio export, Prodigy JSONL,
    `save_to_disk` dir or hub name); see `read_ner`."""
    return read_ner(path, tag_map=tag_map, labels=labels, split=split, fmt=fmt).dataset


def read_ner(
    path: str | Path,
    *,
    tag_map: dict[str, str] | None = None,
    labels: Sequence[str] | None = None,
    split: str | None = None,
    fmt: str = "auto",
) -> NerData:
    """A NER corpus and, for annotation-tool files, the records skipped.

    Tags are normalised (`B_X`→`B-X`) and mapped with `tag_map`. With
    `labels`, any tag outside it is an error (dev/test must use train's tags).
    Label Studio and Prodigy files give one example per sentence (the
    Predictor's sentences and words).
    """
    tag_map = tag_map or {}
    kind = _detect_format(path, fmt, NER_FORMATS)
    p = Path(path)
    skipped: Counter | None = None
    if kind == "conll":
        sentences = list(_read_conll(p, tag_map))
    elif kind == "jsonl":
        sentences = list(_read_ner_jsonl(p, tag_map))
    elif kind == "csv":
        sentences = list(_read_ner_csv(p, tag_map))
    elif kind in IMPORT_FORMATS:
        skipped = Counter()
        sentences = _read_annotation_file(p, kind, tag_map, skipped)
    else:
        sentences = list(_read_ner_dataset(_open_dataset(path, split), str(path), tag_map))
    if not sentences:
        raise DataError(f"{path}: no sentences found" + (f" (skipped: {format_skipped(skipped)})" if skipped else ""))
    if labels is not None:
        known = set(labels)
        for sentence in sentences:
            for tag, where in zip(sentence.tags, sentence.where):
                if tag not in known:
                    raise DataError(
                        f"{where}: unknown tag {tag!r} (the model's tags: {', '.join(labels)}); "
                        "map it with --tag-map"
                    )
    dataset = Dataset.from_dict({"tokens": [s.tokens for s in sentences], "tags": [s.tags for s in sentences]})
    return NerData(dataset, skipped)


def format_skipped(skipped: Counter | dict | None) -> str:
    """'3 (cancelled 2, reject 1)', or '0'."""
    if not skipped:
        return "0"
    return f"{sum(skipped.values())} (" + ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items())) + ")"


def _read_annotation_file(path: Path, kind: str, tag_map: dict[str, str], skipped: Counter) -> list[_Sentence]:
    """Label Studio / Prodigy records → sentences tagged over the Predictor's words."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        imported = read_annotations(path, kind)
        sentences = []
        for doc in imported.docs:
            for sentence in tag_sentences(doc.text, doc.spans, doc.where):
                tokens = [doc.text[s:e] for s, e in sentence.words]
                tags = [apply_tag_map(tag, tag_map) for tag in sentence.tags]
                sentences.append(_Sentence(tokens, tags, [doc.where] * len(tokens)))
    except AnnotationError as err:
        raise DataError(str(err)) from None
    skipped.update(imported.skipped)
    return sentences


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    with open_text(path, newline="", error=DataError) as f:
        for lineno, line in enumerate(f, 1):
            yield lineno, line.rstrip("\r\n")


def _read_conll(path: Path, tag_map: dict[str, str]) -> Iterator[_Sentence]:
    """`TOKEN TAG` or `TOKEN<TAB>TAG` per line (extra middle columns ignored),
    blank lines (or lines of only separators/marks) between sentences."""
    current = _Sentence([], [], [])
    for lineno, raw in _read_lines(path):
        line = _strip_marks(raw)
        if not line.strip() or line.startswith("-DOCSTART-"):
            if current.tokens:
                yield current
            current = _Sentence([], [], [])
            continue
        where = f"{path}:{lineno}"
        fields = raw.split("\t") if "\t" in raw else raw.split()
        if len(fields) < 2:
            raise DataError(f"{where}: expected 'TOKEN TAG', got {raw.strip()!r}")
        token, tag = _strip_marks(fields[0]).strip(), _strip_marks(fields[-1]).strip()
        _append_token(current, fields[0], token, tag, where, tag_map)
    if current.tokens:
        yield current


def _append_token(current: "_Sentence", raw_token: str, token: str, tag: str, where: str, tag_map: dict[str, str]) -> None:
    """Add one (token, tag) line to a sentence; a token that is only bidi marks and tagged O is dropped."""
    if not token and _is_mark_only(raw_token, tag):
        return
    if not token:
        raise DataError(f"{where}: empty token (tag {tag!r})")
    if not tag:
        raise DataError(f"{where}: empty tag for token {token!r}")
    current.tokens.append(token)
    current.tags.append(apply_tag_map(tag, tag_map))
    current.where.append(where)


def _read_json_objects(path: Path) -> Iterator[tuple[str, dict]]:
    """(file:line, object) for each non-blank line of a JSONL file."""
    for lineno, line in _read_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: invalid JSON: {err.msg}") from err
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object")
        yield where, obj


def _read_ner_jsonl(path: Path, tag_map: dict[str, str]) -> Iterator[_Sentence]:
    for where, obj in _read_json_objects(path):
        yield _ner_record(obj, where, tag_map)


def _ner_record(obj: dict, where: str, tag_map: dict[str, str]) -> _Sentence:
    if "tokens" in obj:
        tokens, tags = obj["tokens"], obj.get("tags", obj.get("ner_tags"))
        if tags is None:
            raise DataError(f"{where}: has 'tokens' but no 'tags'")
        if not isinstance(tokens, list) or not isinstance(tags, list):
            raise DataError(f"{where}: 'tokens' and 'tags' must be lists")
        if len(tokens) != len(tags):
            raise DataError(f"{where}: {len(tokens)} tokens but {len(tags)} tags")
        clean = [_strip_marks(str(t)).strip() for t in tokens]
        for i, (token, tag) in enumerate(zip(clean, tags)):
            if not token:
                raise DataError(f"{where}: empty token at position {i}")
            if not isinstance(tag, str) or not tag.strip():
                raise DataError(f"{where}: bad tag {tag!r} at position {i} (tags must be strings)")
        return _Sentence(clean, [apply_tag_map(t.strip(), tag_map) for t in tags], [where] * len(clean))
    if "text" in obj:
        return _entities_to_bio(obj, where, tag_map)
    raise DataError(f"{where}: expected 'tokens'+'tags' or 'text'+'entities', got keys {sorted(obj)}")


def _entities_to_bio(obj: dict, where: str, tag_map: dict[str, str]) -> _Sentence:
    """Character-span entities → BIO tags over the words of `model.text.split_words`."""
    from kashif.model.text import split_words

    text = obj["text"]
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: empty 'text'")
    spans = split_words(text)
    tags = ["O"] * len(spans)
    for k, ent in enumerate(obj.get("entities") or []):
        try:
            start, end, label = int(ent["start"]), int(ent["end"]), str(ent["label"])
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"{where}: entity {k} needs integer 'start', 'end' and a 'label'") from err
        if not 0 <= start < end <= len(text):
            raise DataError(f"{where}: entity {k} span {start}:{end} outside the text (length {len(text)})")
        covered = [i for i, (s, e) in enumerate(spans) if s < end and e > start]
        if not covered:
            raise DataError(f"{where}: entity {k} {text[start:end]!r} covers no word")
        if any(tags[i] != "O" for i in covered):
            raise DataError(f"{where}: entity {k} {text[start:end]!r} overlaps another entity")
        for n, i in enumerate(covered):
            tags[i] = apply_tag_map(("B-" if n == 0 else "I-") + label, tag_map)
    return _Sentence([text[s:e] for s, e in spans], tags, [where] * len(spans))


_CSV_SENTENCE = ("sentence_id", "sentence", "sent_id", "sentence #")
_CSV_TOKEN = ("word", "token", "form")
_CSV_TAG = ("revised_label", "tag", "label", "ner", "ner_tag")


def _find_column(header: list[str], names: Iterable[str]) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def _read_ner_csv(path: Path, tag_map: dict[str, str]) -> Iterator[_Sentence]:
    """One token per row (CAraNER layout): sentence id, word, tag columns; rows of
    a sentence are consecutive."""
    with open_text(path, newline="", error=DataError) as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        sent_col = _find_column(header, _CSV_SENTENCE)
        tok_col = _find_column(header, _CSV_TOKEN)
        tag_col = _find_column(header, _CSV_TAG)
        for name, col in (("sentence id", sent_col), ("word", tok_col), ("tag", tag_col)):
            if col is None:
                raise DataError(f"{path}:1: no {name} column in header {header}")
        current, current_id = _Sentence([], [], []), None
        for row in reader:
            where = f"{path}:{reader.line_num}"
            sid = row.get(sent_col)
            token = _strip_marks(row.get(tok_col) or "").strip()
            tag = (row.get(tag_col) or "").strip()
            if sid is None or None in row:
                raise DataError(f"{where}: wrong number of fields")
            if sid != current_id and current.tokens:
                yield current
                current = _Sentence([], [], [])
            current_id = sid
            _append_token(current, row.get(tok_col) or "", token, tag, where, tag_map)
        if current.tokens:
            yield current


def _read_ner_dataset(ds: Dataset, name: str, tag_map: dict[str, str]) -> Iterator[_Sentence]:
    tag_col = "tags" if "tags" in ds.column_names else "ner_tags" if "ner_tags" in ds.column_names else None
    if "tokens" not in ds.column_names or tag_col is None:
        raise DataError(f"{name}: needs columns 'tokens' and 'tags' (or 'ner_tags'), has {ds.column_names}")
    names = getattr(getattr(ds.features[tag_col], "feature", None), "names", None)
    for i, row in enumerate(ds):
        tags = [names[t] for t in row[tag_col]] if names else row[tag_col]
        yield _ner_record({"tokens": row["tokens"], "tags": tags}, f"{name}[{i}]", tag_map)


def ner_labels(dataset: Dataset) -> list[str]:
    """Tag set of a NER dataset: O first, then B-/I- grouped by type (sorted)."""
    seen = {tag for tags in dataset["tags"] for tag in tags}
    types = sorted({t[2:] for t in seen if len(t) > 2 and t[1] == "-"})
    labels = ["O"]
    for kind in types:
        labels += [f"B-{kind}", f"I-{kind}"]
    others = sorted(seen - set(labels))
    if others:
        raise DataError(f"tags that are not BIO: {', '.join(others)} (map them with --tag-map)")
    return labels


# ------------------------------------------------------------------------ stance


@dataclass
class StanceColumns:
    """Which columns hold the text, the target (claim/topic) and the label; None = guess."""

    text: str | None = None
    target: str | None = None
    label: str | None = None


_TEXT_NAMES = ("text", "s2", "sentence", "tweet", "body", "article")
_TARGET_NAMES = ("target", "s1", "claim", "topic", "headline")
_LABEL_NAMES = ("label", "stance")


def load_stance(
    path: str | Path,
    *,
    columns: StanceColumns | None = None,
    labels: Sequence[str] | None = None,
    split: str | None = None,
    fmt: str = "auto",
    label_map: dict[str, str] | None = None,
    target_map: dict[str, str] | None = None,
    pairs: bool = True,
) -> Dataset:
    """Load a stance corpus (or, with `pairs=False`, a text-classification one: its targets are all None): CSV/TSV/JSONL/`save_to_disk` dir/hub name, or a
    Baly et al. (2018) directory of claim JSONs (`DIR@N` = fold N only, `DIR@-N` =
    all folds but N, from `train_test_splits.txt`).

    ANS (s1 claim, s2 sentence) and Mawqif (text, target, stance) columns are
    found without options. `label_map` renames the corpus's labels (Mawqif's Favor →
    agree) and `target_map` its targets (Mawqif's English topic names → Arabic), before
    `labels` is checked: with `labels`, an unknown label is an error.
    """
    columns = columns or StanceColumns()
    kind = _detect_format(path, fmt, STANCE_FORMATS)
    if kind == "baly":
        rows = list(_read_baly(str(path)))
    elif kind in ("csv", "tsv"):
        rows = list(_read_stance_csv(Path(path), columns, "\t" if kind == "tsv" else ","))
    elif kind == "jsonl":
        rows = list(_read_stance_jsonl(Path(path), columns))
    else:
        ds = _open_dataset(path, split)
        rows = list(_read_stance_records(_dataset_records(ds), ds.column_names, columns, str(path)))
    if not rows:
        raise DataError(f"{path}: no examples found")
    if not pairs:
        rows = [(where, text, None, label) for where, text, _, label in rows]
    if label_map or target_map:
        label_map, target_map = label_map or {}, target_map or {}
        rows = [(where, text, target_map.get(target, target) if target is not None else None, label_map.get(label, label))
                for where, text, target, label in rows]
    if labels is not None:
        known = set(labels)
        for where, _, _, label in rows:
            if label not in known:
                raise DataError(f"{where}: unknown label {label!r} (the model's labels: {', '.join(labels)})")
    return Dataset.from_dict(
        {
            "text": [r[1] for r in rows],
            "target": [r[2] for r in rows],
            "label": [r[3] for r in rows],
        }
    )


def _resolve_stance_columns(header: Sequence[str], columns: StanceColumns, where: str) -> tuple[str, str | None, str]:
    def pick(given: str | None, guesses: Sequence[str], what: str, required: bool) -> str | None:
        if given is not None:
            if given not in header:
                raise DataError(f"{where}: no column {given!r} for the {what} (columns: {', '.join(header)})")
            return given
        found = _find_column(list(header), guesses)
        if found is None and required:
            raise DataError(
                f"{where}: no {what} column (looked for {', '.join(guesses)}; columns: {', '.join(header)}); "
                f"name it with --{what}-column"
            )
        return found

    text = pick(columns.text, _TEXT_NAMES, "text", True)
    target = pick(columns.target, _TARGET_NAMES, "target", False)
    label = pick(columns.label, _LABEL_NAMES, "label", True)
    return text, target, label  # type: ignore[return-value]


def _stance_row(record: dict, cols: tuple[str, str | None, str], where: str) -> tuple[str, str, str | None, str]:
    text_col, target_col, label_col = cols
    text = _strip_marks(str(record.get(text_col) or "")).strip()
    label = str(record.get(label_col) if record.get(label_col) is not None else "").strip()
    target = None
    if target_col is not None and record.get(target_col) is not None:
        target = _strip_marks(str(record[target_col])).strip() or None
    if not text:
        raise DataError(f"{where}: empty text (column {text_col!r})")
    if not label:
        raise DataError(f"{where}: empty label (column {label_col!r})")
    return where, text, target, label


def _read_stance_records(
    records: Iterable[tuple[str, dict]], header: Sequence[str], columns: StanceColumns, name: str
) -> Iterator[tuple[str, str, str | None, str]]:
    cols = _resolve_stance_columns(header, columns, name)
    for where, record in records:
        yield _stance_row(record, cols, where)


def _read_stance_csv(path: Path, columns: StanceColumns, delimiter: str) -> Iterator[tuple[str, str, str | None, str]]:
    with open_text(path, newline="", error=DataError) as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        header = [h for h in (reader.fieldnames or [])]
        cols = _resolve_stance_columns(header, columns, f"{path}:1")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or any(row.get(c) is None for c in cols if c):
                raise DataError(f"{where}: wrong number of fields (expected {len(header)})")
            yield _stance_row(row, cols, where)


def _read_stance_jsonl(path: Path, columns: StanceColumns) -> Iterator[tuple[str, str, str | None, str]]:
    for where, obj in _read_json_objects(path):
        # Each line may have its own keys; resolve per line against that line's keys.
        line_cols = _resolve_stance_columns(list(obj), columns, where)
        yield _stance_row(obj, line_cols, where)


def _read_baly(spec: str) -> Iterator[tuple[str, str, str | None, str]]:
    directory, folds, exclude = _parse_baly_spec(spec)
    if (directory / "dataset").is_dir():
        directory = directory / "dataset"
    files = sorted(directory.glob("*.json"))
    if folds is not None:
        wanted = _baly_fold_ids(directory, folds)
        files = [f for f in files if (f.stem in wanted) != exclude]
    for path in files:
        try:
            obj = json.loads(read_text(path, error=DataError))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: invalid JSON: {err.msg} (line {err.lineno})") from err
        claim = (obj.get("claim") or "").strip()
        articles, stances = obj.get("article") or [], obj.get("stance") or []
        if not claim:
            raise DataError(f"{path}: empty 'claim'")
        if len(articles) != len(stances):
            raise DataError(f"{path}: {len(articles)} articles but {len(stances)} stances")
        for i, (article, stance) in enumerate(zip(articles, stances)):
            where = f"{path}: article {i}"
            yield _stance_row({"text": article, "target": claim, "label": stance}, ("text", "target", "label"), where)


def _parse_baly_spec(spec: str) -> tuple[Path, list[int] | None, bool]:
    m = re.fullmatch(r"(.*)@(-?)(\d+(?:,\d+)*)", spec)
    if m and Path(m.group(1)).is_dir():
        return Path(m.group(1)), [int(x) for x in m.group(3).split(",")], m.group(2) == "-"
    return Path(spec), None, False


def _baly_fold_ids(directory: Path, folds: list[int]) -> set[str]:
    for candidate in (directory / "train_test_splits.txt", directory.parent / "train_test_splits.txt"):
        if candidate.is_file():
            ids: set[str] = set()
            found = set()
            for lineno, line in _read_lines(candidate):
                m = re.match(r"\s*Fold_(\d+)\s*:(.*)", line)
                if m and int(m.group(1)) in folds:
                    ids.update(m.group(2).split())
                    found.add(int(m.group(1)))
            missing = sorted(set(folds) - found)
            if missing:
                raise DataError(f"{candidate}: no fold {', '.join(map(str, missing))}")
            return ids
    raise DataError(f"{directory}: fold selection needs train_test_splits.txt beside the claim files")


def stance_labels(dataset: Dataset) -> list[str]:
    return sorted(set(dataset["label"]))


# ------------------------------------------------------------------------ shared


def _detect_format(path: str | Path, fmt: str, allowed: Sequence[str]) -> str:
    if fmt != "auto":
        if fmt not in allowed:
            raise DataError(f"{path}: unknown format {fmt!r} (one of {', '.join(allowed)})")
        return fmt
    spec = str(path)
    p = Path(spec)
    if "baly" in allowed and (re.fullmatch(r".*@-?\d+(?:,\d+)*", spec) and not p.exists()):
        return "baly"
    if p.is_dir():
        if any((p / f).exists() for f in ("dataset_info.json", "dataset_dict.json", "state.json")):
            return "disk"
        if "baly" in allowed and (any(p.glob("*.json")) or (p / "dataset").is_dir()):
            return "baly"
        raise DataError(f"{p}: directory is neither a saved `datasets` dataset nor a known corpus layout")
    if not p.exists():
        if re.fullmatch(r"[\w.-]+(/[\w.-]+)?", spec) and "/" in spec:
            return "disk"  # a hub dataset name; _open_dataset tries it
        raise DataError(f"{p}: no such file or directory")
    if "label-studio" in allowed and looks_like_label_studio(p):
        return "label-studio"
    by_name = format_from_name(p)
    if by_name in ("jsonl", "csv") or (by_name == "tsv" and "tsv" in allowed):
        return by_name
    # NER reads any other name (a .tsv too) as CoNLL; stance reads it as CSV.
    return "conll" if "conll" in allowed else "csv"


def _open_dataset(path: str | Path, split: str | None) -> Dataset:
    p = Path(path)
    try:
        if p.exists():
            ds = load_from_disk(str(p))
        else:
            from datasets import load_dataset

            ds = load_dataset(str(path), split=split or "train")
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - any loader failure becomes one readable line
        raise DataError(f"{path}: cannot load dataset: {first_line(err)}") from err
    if isinstance(ds, DatasetDict):
        wanted = [split] if split else []
        wanted += ["train"] if split is None else {"dev": ["validation", "valid"], "validation": ["dev"]}.get(split, [])
        for name in wanted:
            if name in ds:
                return ds[name]
        raise DataError(f"{path}: no split {split or 'train'!r} (splits: {', '.join(ds)})")
    return ds


def _dataset_records(ds: Dataset) -> Iterator[tuple[str, dict]]:
    label_names = {
        name: feature.names for name, feature in ds.features.items() if hasattr(feature, "names")
    }
    for i, row in enumerate(ds):
        for name, names in label_names.items():
            if isinstance(row.get(name), int):
                row[name] = names[row[name]]
        yield f"row {i}", row


def split_dev(
    dataset: Dataset, fraction: float, seed: int, stratify_column: str | None = None
) -> tuple[Dataset, Dataset]:
    """Carve a seeded dev set from `dataset`; stratified by `stratify_column`
    (each class keeps its share, and a class with ≥2 examples keeps one on each side)."""
    if not 0 < fraction < 1:
        raise DataError(f"--dev-split must be between 0 and 1, got {fraction}")
    n = len(dataset)
    rng = random.Random(seed)
    if stratify_column is None:
        order = list(range(n))
        rng.shuffle(order)
        n_dev = max(1, round(n * fraction))
        dev_idx = order[:n_dev]
    else:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, value in enumerate(dataset[stratify_column]):
            groups[value].append(i)
        dev_idx = []
        for value in sorted(groups):
            members = groups[value]
            rng.shuffle(members)
            k = round(len(members) * fraction)
            if len(members) >= 2:
                k = min(max(k, 1), len(members) - 1)
            dev_idx += members[:k]
    if not dev_idx or len(dev_idx) >= n:
        raise DataError(f"cannot split {n} examples into train and dev with fraction {fraction}")
    dev_set = set(dev_idx)
    train_idx = [i for i in range(n) if i not in dev_set]
    return dataset.select(train_idx), dataset.select(sorted(dev_idx))


def data_fingerprint(path: str | Path) -> dict:
    """sha256 of a data file (or of every file under a directory, in name order)."""
    spec = str(path)
    p = Path(spec)
    if not p.exists():
        m = re.fullmatch(r"(.*)@-?\d+(?:,\d+)*", spec)
        if m and Path(m.group(1)).exists():
            p = Path(m.group(1))
        else:
            return {"path": spec, "sha256": None}
    digest = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    size = 0
    for f in files:
        if p.is_dir():
            digest.update(str(f.relative_to(p)).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
    return {"path": spec, "sha256": digest.hexdigest(), "bytes": size, "files": len(files)}
