"""The scorer's output formats: how the committed shards (JSONL records) become
the final file.

`jsonl` and `parquet` hold every task's results; `label-studio`, `prodigy` and
`conll` are pre-annotations for an annotation tool (entities only; the shapes
themselves are in `model.annotation_formats`). Shards store the same records
whatever the format (with the document text when an annotation format needs
it), so resuming and ordering do not depend on the format.
"""
from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

from kashif.model import annotation_formats as af
from kashif.model.inputs import is_gzip
from kashif.model.tasks import ANSWER_NAMES, PAIR, TOKEN, task_answering

OUTPUT_FORMATS = ("jsonl", "parquet", "label-studio", "prodigy", "conll")
ANNOTATION_FORMATS = ("label-studio", "prodigy", "conll")  # entities only; records carry the text
_BY_EXTENSION = {".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".parquet": "parquet"}


def format_from_path(path: str | os.PathLike) -> str | None:
    """jsonl or parquet from the output's name (the default when no format is given)."""
    name = str(path).lower()
    for ext, fmt in _BY_EXTENSION.items():
        if name.endswith(ext):
            return fmt
    return None


def needs_text(fmt: str) -> bool:
    return fmt in ANNOTATION_FORMATS


@dataclass(frozen=True)
class ExportSpec:
    fmt: str
    id_is_row_number: bool
    tasks: tuple[str, ...]
    model_version: str = "kashif"


Records = Callable[[], Iterator[list[dict]]]  # the committed records, one list per shard, in order
Lines = Callable[[], Iterator[bytes]]  # the same, as the shards' JSONL lines


def output_writer(spec: ExportSpec, output: Path, records: Records, lines: Lines) -> Callable[[BinaryIO], None]:
    """A function writing the whole output file (gzip-compressed when its name ends in .gz) to a binary handle."""
    if spec.fmt == "parquet":
        return lambda handle: _write_parquet(handle, records, spec)
    if spec.fmt == "jsonl":
        body: Callable[[], Iterator[bytes]] = lines
    elif spec.fmt == "label-studio":
        body = lambda: _label_studio(records, spec)  # noqa: E731
    elif spec.fmt == "prodigy":
        body = lambda: _per_record(records, lambda r: _json_line(af.prodigy_task(r["text"], r["entities"], doc_id=r["id"])))  # noqa: E731
    elif spec.fmt == "conll":
        body = lambda: _per_record(records, lambda r: af.conll_document(r["text"], r["entities"]).encode("utf-8"))  # noqa: E731
    else:
        raise ValueError(f"unknown output format {spec.fmt!r} (one of {', '.join(OUTPUT_FORMATS)})")
    if is_gzip(output):
        def write_gz(handle: BinaryIO) -> None:
            with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as gz:
                gz.writelines(body())
        return write_gz
    return lambda handle: handle.writelines(body())


def _json_line(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, default=str).encode("utf-8") + b"\n"


def _per_record(records: Records, encode: Callable[[dict], bytes]) -> Iterator[bytes]:
    for shard in records():
        for record in shard:
            yield encode(record)


def _label_studio(records: Records, spec: ExportSpec) -> Iterator[bytes]:
    """A JSON list of tasks, one per line, streamed shard by shard."""
    yield b"["
    first = True
    for shard in records():
        for r in shard:
            task = af.label_studio_task(r["text"], r["entities"], model_version=spec.model_version, doc_id=r["id"])
            yield (b"\n" if first else b",\n") + json.dumps(task, ensure_ascii=False, default=str).encode("utf-8")
            first = False
    yield b"\n]\n"


def label_config_path(output: Path) -> Path:
    """Where the Label Studio labeling config is written, beside the tasks."""
    return output.with_name(output.name + ".label-config.xml")


def model_version(ref: str | None) -> str:
    """How the predictions name their model: `kashif <model dir or hub id>`."""
    if not ref:
        return "kashif"
    path = Path(ref)
    return "kashif " + ("/".join(path.resolve().parts[-2:]) if path.exists() else ref)


def entity_types(ref: str | None, seen: Sequence[str] = ()) -> list[str]:
    """Entity types of a NER model directory (its config's id2label), else those seen in the output."""
    from kashif.model.decoding import split_tag

    types: set[str] = set(seen)
    config = Path(ref) / "config.json" if ref else None
    if config is not None and config.is_file():
        try:
            id2label = json.loads(config.read_text(encoding="utf-8")).get("id2label") or {}
        except (OSError, ValueError):
            id2label = {}
        types.update(kind for label in id2label.values() if (kind := split_tag(str(label))[1]))
    return sorted(types)


def _write_parquet(handle: BinaryIO, records: Records, spec: ExportSpec) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema(spec.id_is_row_number, spec.tasks)
    with pq.ParquetWriter(handle, schema) as writer:
        for shard in records():
            if not spec.id_is_row_number:
                for r in shard:
                    r["id"] = r["id"] if isinstance(r["id"], str) else json.dumps(r["id"], ensure_ascii=False)
            writer.write_table(pa.Table.from_pylist(shard, schema=schema))


def parquet_schema(id_is_row_number: bool, tasks: Sequence[str] = ANSWER_NAMES):
    """Parquet output: ids are int64 row numbers, or strings when taken from an id field; one column per task
    (answer name), by the shape of its answers: a token task's list of entities, a pair task's list of
    `{target, label, scores, truncated}`, a text classifier's `{label, scores, truncated}`. Scores are a
    label → probability map (a multi-label model's `labels` are those scoring at least the threshold; they stay in
    the JSONL records)."""
    import pyarrow as pa

    entity = pa.struct([("text", pa.string()), ("label", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("score", pa.float64())])
    label = [("label", pa.string()), ("scores", pa.map_(pa.string(), pa.float64())), ("truncated", pa.bool_())]

    def column(answer: str):
        task = task_answering(answer)
        if task.head == TOKEN:
            return pa.list_(entity)
        return pa.list_(pa.struct([("target", pa.string()), *label])) if task.inputs == PAIR else pa.struct(label)

    columns = [("id", pa.int64() if id_is_row_number else pa.string())]
    columns += [(task, column(task)) for task in tasks]
    return pa.schema(columns)
