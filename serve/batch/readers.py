"""Stream the rows of input files in chunks, whatever the format.

Every reader yields plain dicts (one per input row) and never holds more than
one chunk in memory. A line that is not valid JSON does not stop the run: it
becomes a `RowError`, so the scorer can report it with its row number.
Blank (whitespace-only) lines of JSONL and plain text are not rows.
"""
from __future__ import annotations

import gzip
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from kashif.model.errors import KashifError
from kashif.model.inputs import format_from_name, is_gzip, open_bytes, open_text
from kashif.model.messages import first_line

if TYPE_CHECKING:
    import pyarrow.csv as pacsv
    from datasets import Dataset

FORMATS = ("jsonl", "csv", "tsv", "parquet", "txt", "datasets")
_CSV_BLOCK_BYTES = 1 << 20


class InputError(KashifError):
    """An input that cannot be read at all; the message is one line for the user."""


@dataclass(frozen=True)
class RowError:
    """A row that exists but could not be parsed (e.g. a line that is not JSON)."""

    reason: str


Row = dict | RowError


def is_remote(path: str | os.PathLike) -> bool:
    """An object-store or other URI (s3://, gs://, ...): only Ray reads those."""
    return "://" in str(path)


def _named_format(path: str | os.PathLike) -> str | None:
    fmt = format_from_name(path)
    return fmt if fmt in FORMATS else None


def detect_format(path: str | os.PathLike) -> str:
    """The format of an input, from its name (a `.gz` suffix is looked through)
    or, for a directory, from the files `datasets.save_to_disk` writes."""
    if is_remote(path):
        fmt = _named_format(path)
        if fmt is None:
            raise InputError(f"{path}: unknown input format; use a name ending in .jsonl, .csv, .tsv, .parquet or .txt (optionally .gz)")
        return fmt
    p = Path(path)
    if p.is_dir():
        if (p / "dataset_info.json").is_file() or (p / "state.json").is_file():
            return "datasets"
        if (p / "dataset_dict.json").is_file():
            splits = json.loads((p / "dataset_dict.json").read_text()).get("splits", [])
            raise InputError(f"{p}: a datasets DatasetDict with splits {', '.join(splits)}; pass one split's directory, e.g. {p / (splits[0] if splits else 'train')}")
        raise InputError(f"{p}: a directory, but not one written by datasets.save_to_disk")
    if not p.exists():
        raise InputError(f"{p}: no such file")
    fmt = _named_format(p)
    if fmt is None:
        raise InputError(f"{p}: unknown input format; use a name ending in .jsonl, .csv, .tsv, .parquet or .txt (optionally .gz), or a datasets directory")
    if fmt == "parquet" and is_gzip(p):
        raise InputError(f"{p}: gzip-compressed Parquet is not supported (Parquet compresses its own columns)")
    return fmt


def parse_json_line(line: str) -> Row:
    """One JSONL line as a row; the same parsing serves the local and the Ray engine."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        return RowError(f"invalid JSON: {err.msg} at column {err.colno}")
    if not isinstance(value, dict):
        return RowError(f"a JSON {type(value).__name__}, not an object")
    return value


def _lines(path: Path, unicode_breaks: bool = False) -> Iterator[str]:
    """Lines that are not blank, without their line ending. JSONL lines end
    only at \\n (JSON strings may hold U+2028); plain text also breaks at the
    other Unicode line boundaries, as `str.splitlines` and Ray's text reader do.
    A BOM is kept, as Ray's text reader keeps it, so both engines see the same rows."""
    try:
        with open_text(path, newline="\n", keep_bom=True, error=InputError) as handle:
            for line in handle:
                parts = line.splitlines() if unicode_breaks else [line.rstrip("\r\n")]
                for part in parts:
                    if part.strip():
                        yield part
    except (EOFError, gzip.BadGzipFile) as err:
        raise InputError(f"{path}: damaged gzip file: {err}") from None


def _chunked(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def csv_options(delimiter: str, columns: Sequence[str]) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    """pyarrow's (read, parse, convert) options for CSV (`,`) or TSV (tab), the
    same for both engines. `columns` are read as strings, so a column never
    changes type mid-file."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=delimiter == ",", quote_char='"' if delimiter == "," else False)
    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in columns}, strings_can_be_null=False)
    return read, parse, convert


def _csv_rows(path: Path, delimiter: str, columns: Sequence[str]) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read, parse, convert = csv_options(delimiter, columns)
    try:
        reader = pacsv.open_csv(pa.input_stream(str(path), compression="detect"), read_options=read, parse_options=parse, convert_options=convert)
        for batch in reader:
            yield from batch.to_pylist()
    except pa.ArrowInvalid as err:
        raise InputError(f"{path}: cannot read as {'CSV' if delimiter == ',' else 'TSV'}: {first_line(err)}") from None


def _parquet_rows(path: Path, chunk_size: int) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{path}: cannot read as Parquet: {first_line(err)}") from None
    for batch in parquet.iter_batches(batch_size=chunk_size):
        yield from batch.to_pylist()


def load_dataset_dir(path: str | os.PathLike) -> Dataset:
    """The `datasets.Dataset` saved in a directory by `save_to_disk` (one split)."""
    from datasets import Dataset, load_from_disk

    try:
        ds = load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as err:
        raise InputError(f"{path}: cannot load the datasets directory: {first_line(err)}") from None
    if not isinstance(ds, Dataset):
        raise InputError(f"{path}: a DatasetDict with splits {', '.join(ds)}; pass one split's directory")
    return ds


def _dataset_rows(path: Path, chunk_size: int) -> Iterator[Row]:
    ds = load_dataset_dir(path)  # memory-mapped Arrow: iterating does not load it all
    for batch in ds.iter(batch_size=chunk_size):
        keys = list(batch)
        for i in range(len(batch[keys[0]]) if keys else 0):
            yield {k: batch[k][i] for k in keys}


def iter_rows(path: str | os.PathLike, fmt: str, text_field: str = "text", columns: Sequence[str] = (), chunk_size: int = 1024) -> Iterator[Row]:
    """The rows of one input, one at a time, in file order. `columns` are the
    fields read as strings from CSV/TSV (text, id, target)."""
    if is_remote(path):
        raise InputError(f"{path}: object-store paths are read by the Ray engine (--engine ray)")
    p = Path(path)
    if fmt == "jsonl":
        return (parse_json_line(line) for line in _lines(p))
    if fmt == "txt":
        return ({text_field: line} for line in _lines(p, unicode_breaks=True))
    if fmt in ("csv", "tsv"):
        return _csv_rows(p, "," if fmt == "csv" else "\t", columns)
    if fmt == "parquet":
        return _parquet_rows(p, chunk_size)
    if fmt == "datasets":
        return _dataset_rows(p, chunk_size)
    raise InputError(f"unknown format {fmt}")


def iter_chunks(
    paths: Sequence[str | os.PathLike],
    text_field: str = "text",
    columns: Sequence[str] = (),
    chunk_size: int = 256,
    skip: int = 0,
    formats: Sequence[str] | None = None,
) -> Iterator[list[Row]]:
    """Chunks of at most `chunk_size` rows over all inputs after the first
    `skip` rows, in order (a chunk may span two files). `formats`, one per
    path, overrides detection by file name."""

    def all_rows() -> Iterator[Row]:
        for i, path in enumerate(paths):
            yield from iter_rows(path, formats[i] if formats else detect_format(path), text_field, columns, chunk_size)

    return _chunked(itertools.islice(all_rows(), skip, None), chunk_size)


def count_rows(path: str | os.PathLike, fmt: str) -> int | None:
    """Rows of an input when that is cheap to know (for the progress bar's ETA);
    None for CSV/TSV, whose quoted cells may span lines."""
    if is_remote(path):
        return None
    p = Path(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(p).metadata.num_rows
    if fmt == "datasets":
        return len(load_dataset_dir(p))
    if fmt in ("jsonl", "txt"):
        count = 0
        with open_bytes(p) as handle:
            for line in handle:
                if line.rstrip(b"\r\n"):
                    count += 1
        return count
    return None
