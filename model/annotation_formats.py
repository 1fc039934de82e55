"""Annotation-tool files: Label Studio, Prodigy and CoNLL, out (pre-annotations
from the Predictor) and in (a person's corrections, for training).

Everything Kashif knows about these tools' formats lives here, together with
the one mapping of character spans onto words: the words of
`model.text.sentence_words`, the splitter the Predictor uses, so that what a
person labels is what the model is trained and scored on.

Offsets are always Python string indices (Unicode code points) into the
original text; Label Studio stores code points too.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence
from xml.sax.saxutils import quoteattr

from kashif.model.errors import KashifError
from kashif.model.inputs import open_text, read_text
from kashif.model.text import Span, sentence_words

# Label Studio: the names the labeling config and every region agree on.
LS_FROM_NAME = "label"
LS_TO_NAME = "text"
LS_REGION_TYPE = "labels"
# Tasks or answers that a person set aside; skipped on import and counted.
PRODIGY_SKIPPED_ANSWERS = ("reject", "ignore")

EntityLike = Mapping[str, Any]  # {"start", "end", "label", "score"?}, e.g. `Entity.to_dict()`


class AnnotationError(KashifError, ValueError):
    """A record that cannot be used; the message is one line naming the record."""


@dataclass(frozen=True)
class LabeledSpan:
    start: int
    end: int
    label: str
    ref: str = field(default="", compare=False)  # names the span in messages, e.g. "region 2 (id abc)"


@dataclass
class AnnotatedDoc:
    """One annotated text read from a tool's file; `where` names the record in messages."""

    where: str
    text: str
    spans: list[LabeledSpan]


@dataclass
class AnnotationImport:
    docs: list[AnnotatedDoc]
    skipped: Counter = field(default_factory=Counter)  # reason → records skipped


# --------------------------------------------------------------- spans ↔ words


@dataclass
class TaggedSentence:
    """Words (as spans of the document) and their BIO tags."""

    words: list[Span]
    tags: list[str]


def tag_sentences(text: str, spans: Sequence[LabeledSpan], where: str) -> list[TaggedSentence]:
    """The document's sentences (as the Predictor splits them) with BIO tags
    from character spans. A span must cover whole words: one that starts or
    ends inside a word, covers no word, or overlaps another span is an
    `AnnotationError` naming `where`. Sentences that one span bridges (an
    abbreviation's full stop inside a name) are kept together."""
    sentences = sentence_words(text)
    flat = [(k, i, w) for k, words in enumerate(sentences) for i, w in enumerate(words)]
    tags = [["O"] * len(words) for words in sentences]
    joined: set[int] = set()  # sentence k is joined to k + 1
    owner: dict[tuple[int, int], LabeledSpan] = {}
    for span in sorted(set(spans), key=lambda s: (s.start, s.end, s.label)):
        here = f"{where}: {span.ref}" if span.ref else where
        if not 0 <= span.start < span.end <= len(text):
            raise AnnotationError(f"{here}: span {span.start}:{span.end} ({span.label}) is outside the text (length {len(text)})")
        quoted = repr(text[span.start : span.end])
        covered = [(k, i, w) for k, i, w in flat if w[0] < span.end and w[1] > span.start]
        if not covered:
            raise AnnotationError(f"{here}: span {span.start}:{span.end} {quoted} ({span.label}) covers no word")
        first, last = covered[0][2], covered[-1][2]
        if first[0] < span.start:
            raise AnnotationError(f"{here}: span {span.start}:{span.end} {quoted} ({span.label}) starts inside the word {text[first[0]:first[1]]!r} ({first[0]}:{first[1]})")
        if last[1] > span.end:
            raise AnnotationError(f"{here}: span {span.start}:{span.end} {quoted} ({span.label}) ends inside the word {text[last[0]:last[1]]!r} ({last[0]}:{last[1]})")
        for n, (k, i, _) in enumerate(covered):
            other = owner.get((k, i))
            if other is not None:
                raise AnnotationError(
                    f"{here}: span {span.start}:{span.end} {quoted} ({span.label}) overlaps span {other.start}:{other.end} "
                    f"{text[other.start:other.end]!r} ({other.label})"
                )
            owner[(k, i)] = span
            tags[k][i] = ("B-" if n == 0 else "I-") + span.label
        joined.update(range(covered[0][0], covered[-1][0]))
    out: list[TaggedSentence] = []
    for k, words in enumerate(sentences):
        if out and k - 1 in joined:
            out[-1].words.extend(words)
            out[-1].tags.extend(tags[k])
        else:
            out.append(TaggedSentence(list(words), list(tags[k])))
    return out


def _entity_spans(entities: Sequence[EntityLike]) -> list[LabeledSpan]:
    return [LabeledSpan(int(e["start"]), int(e["end"]), str(e["label"])) for e in entities]


def _word_index(words: Sequence[Span]) -> tuple[dict[int, int], dict[int, int]]:
    return {s: i for i, (s, _) in enumerate(words)}, {e: i for i, (_, e) in enumerate(words)}


# --------------------------------------------------------------------- export


def label_studio_task(text: str, entities: Sequence[EntityLike], *, model_version: str, doc_id: Any = None) -> dict:
    """One Label Studio task with the model's entities as a prediction
    (Label Studio's documented import format for pre-annotations)."""
    result = [
        {
            "id": f"kashif-{k}",
            "from_name": LS_FROM_NAME,
            "to_name": LS_TO_NAME,
            "type": LS_REGION_TYPE,
            "value": {"start": e["start"], "end": e["end"], "text": text[e["start"] : e["end"]], "labels": [e["label"]]},
            **({"score": e["score"]} if "score" in e else {}),
        }
        for k, e in enumerate(entities)
    ]
    scores = [float(e["score"]) for e in entities if "score" in e]
    data: dict[str, Any] = {"text": text}
    if doc_id is not None:
        data["kashif_id"] = doc_id
    # The prediction's score is its least sure entity: sorting tasks by it puts doubtful ones first.
    return {"data": data, "predictions": [{"model_version": model_version, "score": min(scores) if scores else 1.0, "result": result}]}


def label_studio_config(labels: Sequence[str]) -> str:
    """A labeling config for these tasks: right-to-left text, one choice per entity type."""
    choices = "\n".join(f"    <Label value={quoteattr(label)}/>" for label in labels)
    return (
        "<View>\n"
        f'  <Labels name="{LS_FROM_NAME}" toName="{LS_TO_NAME}">\n{choices}\n  </Labels>\n'
        '  <View style="direction: rtl; text-align: right">\n'
        f'    <Text name="{LS_TO_NAME}" value="${LS_TO_NAME}" granularity="word"/>\n'
        "  </View>\n"
        "</View>\n"
    )


def _token_list(text: str, words: Sequence[Span]) -> list[dict]:
    return [
        {"text": text[s:e], "start": s, "end": e, "id": i, "ws": e < len(text) and text[e].isspace()}
        for i, (s, e) in enumerate(words)
    ]


def prodigy_task(text: str, entities: Sequence[EntityLike], *, doc_id: Any = None) -> dict:
    """One Prodigy `ner_manual` task: tokens (our words) and spans with token
    indices (`token_end` inclusive, as Prodigy counts)."""
    words = [w for sentence in sentence_words(text) for w in sentence]
    starts, ends = _word_index(words)
    spans = [
        {"start": e["start"], "end": e["end"], "label": e["label"], "token_start": starts[e["start"]], "token_end": ends[e["end"]]}
        for e in entities
    ]
    task: dict[str, Any] = {"text": text, "tokens": _token_list(text, words), "spans": spans}
    if doc_id is not None:
        task["meta"] = {"id": doc_id}
    return task


CONLL_DOCSTART = "-DOCSTART- -X- -X- O"


def conll_document(text: str, entities: Sequence[EntityLike]) -> str:
    """`-DOCSTART-`, then one `WORD TAG` line per word, a blank line after each sentence."""
    lines = [CONLL_DOCSTART, ""]
    for sentence in tag_sentences(text, _entity_spans(entities), "entities"):
        lines.extend(f"{text[s:e]} {tag}" for (s, e), tag in zip(sentence.words, sentence.tags))
        lines.append("")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------- import


def _load_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path, error=AnnotationError))
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: invalid JSON: {err.msg} (line {err.lineno})") from None


def _text_of(record: Mapping[str, Any], key: str, where: str) -> str:
    text = record.get(key) if isinstance(record, Mapping) else None
    if not isinstance(text, str):
        shown = "missing" if text is None else f"a {type(text).__name__}, not a string"
        raise AnnotationError(f"{where}: no text ('{key}' is {shown})")
    return text


def _int_offsets(value: Mapping[str, Any], where: str) -> tuple[int, int]:
    start, end = value.get("start"), value.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) or isinstance(end, bool):
        raise AnnotationError(f"{where}: needs integer 'start' and 'end', got {start!r} and {end!r}")
    return start, end


def _check_quoted(text: str, start: int, end: int, quoted: Any, where: str) -> None:
    if isinstance(quoted, str) and 0 <= start <= end <= len(text) and text[start:end] != quoted:
        raise AnnotationError(f"{where}: says {quoted!r} but the text at {start}:{end} is {text[start:end]!r}")


def _ls_where(path: Path, index: int, task: Mapping[str, Any]) -> str:
    task_id = task.get("id") if isinstance(task, Mapping) else None
    return f"{path}: task {index}" + (f" (id {task_id})" if task_id is not None else "")


def _ls_pick(task: Mapping[str, Any]) -> tuple[list | None, str | None]:
    """(regions, None) of the annotation to train on, or (None, skip reason).
    A ground-truth annotation wins, then the latest; predictions are the fallback."""
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, Mapping)]
    if annotations:
        kept = [a for a in annotations if not a.get("was_cancelled") and not a.get("rejected")]
        if not kept:
            return None, "cancelled" if any(a.get("was_cancelled") for a in annotations) else "rejected"
        best = max(kept, key=lambda a: (bool(a.get("ground_truth")), str(a.get("updated_at") or ""), str(a.get("id") or "")))
        return list(best.get("result") or []), None
    predictions = [p for p in task.get("predictions") or [] if isinstance(p, Mapping)]
    if predictions:
        return list(predictions[-1].get("result") or []), None
    return None, "unlabeled"


def read_label_studio(path: str | Path) -> AnnotationImport:
    """A Label Studio JSON export (a list of tasks): each task's annotation, or
    its prediction when nobody annotated it. Cancelled (skipped) or rejected
    tasks, tasks with neither, and blank texts are skipped and counted."""
    path = Path(path)
    tasks = _load_json(path)
    if isinstance(tasks, Mapping):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise AnnotationError(f"{path}: expected a JSON list of Label Studio tasks")
    out = AnnotationImport([])
    for index, task in enumerate(tasks):
        where = _ls_where(path, index, task)
        if not isinstance(task, Mapping):
            raise AnnotationError(f"{where}: expected a JSON object")
        data = task.get("data")
        if not isinstance(data, Mapping):
            raise AnnotationError(f"{where}: no text (no 'data' object)")
        text = _text_of(data, LS_TO_NAME, where)
        regions, skip = _ls_pick(task)
        if skip is None and not text.strip():
            skip = "blank text"
        if skip is not None:
            out.skipped[skip] += 1
            continue
        spans = []
        for k, region in enumerate(regions or []):
            region_where = f"{where}: region {k}" + (f" ({region.get('id')})" if isinstance(region, Mapping) and region.get("id") else "")
            if not isinstance(region, Mapping) or region.get("type") != LS_REGION_TYPE:
                continue  # relations, choices, ratings: not entities
            value = region.get("value") or {}
            start, end = _int_offsets(value, region_where)
            labels = value.get("labels") or []
            if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
                raise AnnotationError(f"{region_where}: needs exactly one label, got {labels!r}")
            _check_quoted(text, start, end, value.get("text"), region_where)
            spans.append(LabeledSpan(start, end, labels[0], region_where.removeprefix(f"{where}: ")))
        out.docs.append(AnnotatedDoc(where, text, spans))
    return out


def _jsonl_records(path: Path) -> Iterator[tuple[str, Any]]:
    with open_text(path, error=AnnotationError) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as err:
                raise AnnotationError(f"{where}: invalid JSON: {err.msg}") from None


def read_prodigy(path: str | Path) -> AnnotationImport:
    """Prodigy JSONL (`db-out` of an `ner.manual`/`ner.correct` dataset):
    answers `reject` and `ignore` are skipped and counted; spans are
    character offsets (token indices, when present, are not needed)."""
    path = Path(path)
    out = AnnotationImport([])
    for where, record in _jsonl_records(path):
        if not isinstance(record, Mapping):
            raise AnnotationError(f"{where}: expected a JSON object")
        meta = record.get("meta") if isinstance(record.get("meta"), Mapping) else {}
        if meta.get("id") is not None:
            where = f"{where} (id {meta['id']})"
        text = _text_of(record, "text", where)
        answer = record.get("answer")
        if answer in PRODIGY_SKIPPED_ANSWERS:
            out.skipped[str(answer)] += 1
            continue
        if not text.strip():
            out.skipped["blank text"] += 1
            continue
        spans = []
        for k, span in enumerate(record.get("spans") or []):
            span_where = f"{where}: span {k}"
            if not isinstance(span, Mapping):
                raise AnnotationError(f"{span_where}: expected a JSON object")
            start, end = _int_offsets(span, span_where)
            label = span.get("label")
            if not isinstance(label, str) or not label:
                raise AnnotationError(f"{span_where}: needs a 'label', got {label!r}")
            spans.append(LabeledSpan(start, end, label))
        out.docs.append(AnnotatedDoc(where, text, spans))
    return out


IMPORT_FORMATS = {"label-studio": read_label_studio, "prodigy": read_prodigy}


def read_annotations(path: str | Path, fmt: str) -> AnnotationImport:
    """Read a Label Studio export or Prodigy JSONL (`fmt`: one of IMPORT_FORMATS)."""
    try:
        reader = IMPORT_FORMATS[fmt]
    except KeyError:
        raise AnnotationError(f"unknown annotation format {fmt!r} (one of {', '.join(IMPORT_FORMATS)})") from None
    return reader(path)


_SNIFF_LIMIT = 16 << 20  # characters read at most to find the end of the first task


def looks_like_label_studio(path: str | Path) -> bool:
    """A .json file whose content is a JSON list whose first item is an object
    with 'data' (a Label Studio export). The first task is parsed whole:
    Label Studio writes 'data' after 'annotations' and 'predictions', so in an
    annotated export it can lie many kilobytes in."""
    p = Path(path)
    if p.suffix.lower() != ".json" or not p.is_file():
        return False
    decoder = json.JSONDecoder()
    buf, size = "", 1 << 16
    with p.open(encoding="utf-8-sig", errors="replace") as handle:
        while True:
            chunk = handle.read(size)
            buf += chunk
            head = buf.lstrip()
            if head and not head.startswith("["):
                return False
            body = head[1:].lstrip()
            try:
                first, _ = decoder.raw_decode(body)
            except json.JSONDecodeError:
                if not chunk or len(buf) >= _SNIFF_LIMIT:
                    return False
                size = len(buf)  # read as much again: a few passes even for a long first task
                continue
            return isinstance(first, dict) and "data" in first
