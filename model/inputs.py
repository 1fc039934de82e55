"""Reading input files the same way everywhere: the batch scorer, training
data, pretraining corpora and annotation-tool imports.

`open_text` decompresses `.gz` names, drops a UTF-8 BOM and turns every
decoding failure, early or late in the file, into one `TextDecodeError`;
`format_from_name` is the one table of file extensions; `strip_bidi_marks`
removes the directional marks that `model.text` treats as spaces.
"""
from __future__ import annotations

import gzip
import io
import os
import re
from pathlib import Path
from typing import BinaryIO, Callable

from kashif.model.text import BIDI_MARKS

GZIP_SUFFIX = ".gz"
# Extension → format, for every reader; each reader accepts its own subset.
EXTENSION_FORMATS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".parquet": "parquet", ".pq": "parquet",
    ".txt": "txt", ".text": "txt",
    ".conll": "conll", ".bio": "conll",
}
# Decoded as soon as a file is opened, so that most files that are not UTF-8
# fail before anything has been read from them.
_EARLY_CHECK_CHARS = 1 << 16

_BIDI_RE = re.compile(f"[{BIDI_MARKS}]")
_BIDI_OR_BOM_RE = re.compile(f"[{BIDI_MARKS}\ufeff]")


class TextDecodeError(ValueError):
    """A file that is not UTF-8 text; `byte` counts from the start of the file
    (of the decompressed data, for a .gz file)."""

    def __init__(self, path: str | os.PathLike, reason: str, byte: int) -> None:
        super().__init__(path, reason, byte)
        self.path, self.reason, self.byte = Path(path), reason, byte

    def __str__(self) -> str:
        return f"{self.path}: not UTF-8 text ({self.reason} at byte {self.byte})"


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the name says gzip-compressed (`.gz`, any case)."""
    return str(path).lower().endswith(GZIP_SUFFIX)


def format_from_name(path: str | os.PathLike) -> str | None:
    """The format of `EXTENSION_FORMATS` that the file's name says, looking
    through a `.gz` suffix; None for a name it does not know."""
    name = Path(str(path)).name.lower().removesuffix(GZIP_SUFFIX)
    return EXTENSION_FORMATS.get(Path(name).suffix)


def open_bytes(path: str | os.PathLike) -> BinaryIO:
    """The file's bytes, decompressed when its name ends in `.gz`."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


ErrorType = Callable[[str], Exception]  # a caller's own error class, made from the one message


class _TextFile(io.TextIOWrapper):
    """A text handle whose decoding errors are `TextDecodeError`s (or the caller's `error` with the same message)
    with the file's byte offset (TextIOWrapper's own count from the block it decoded)."""

    def __init__(self, raw: BinaryIO, path: Path, *, newline: str | None, keep_bom: bool, error: ErrorType | None) -> None:
        super().__init__(raw, encoding="utf-8" if keep_bom else "utf-8-sig", errors="strict", newline=newline)
        self.source_path = path
        self.error = error

    def _decoded(self, read, *args):
        try:
            return read(*args)
        except UnicodeDecodeError as err:
            # The bytes that failed end where the underlying stream now stands.
            byte = self.buffer.tell() - len(err.object) + err.start
            decode_error = TextDecodeError(self.source_path, err.reason, byte)
            raise (self.error(str(decode_error)) if self.error else decode_error) from None

    def __next__(self) -> str:
        return self._decoded(super().__next__)

    def read(self, size: int | None = -1) -> str:
        return self._decoded(super().read, size)

    def readline(self, size: int = -1) -> str:
        return self._decoded(super().readline, size)


def open_text(path: str | os.PathLike, *, newline: str | None = None, keep_bom: bool = False,
              error: ErrorType | None = None) -> io.TextIOWrapper:
    """A UTF-8 text file (gzip-compressed when its name ends in `.gz`), its BOM
    dropped unless `keep_bom`; `newline` as for `open`. The start of the file
    is decoded at once, and any part that is not UTF-8, now or later, raises
    `TextDecodeError`, or `error(message)` with the same message when the caller
    names its own error class. A damaged .gz file raises gzip's own errors (OSError, EOFError)."""
    p = Path(path)
    handle = _TextFile(open_bytes(p), p, newline=newline, keep_bom=keep_bom, error=error)
    try:
        handle.read(_EARLY_CHECK_CHARS)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return handle


def read_text(path: str | os.PathLike, *, error: ErrorType | None = None) -> str:
    """The whole of a file opened with `open_text`."""
    with open_text(path, error=error) as handle:
        return handle.read()


def strip_bidi_marks(text: str, *, bom: bool = False) -> str:
    """`text` without the directional marks of `model.text.BIDI_MARKS` (never
    part of a word), and without U+FEFF too when `bom`."""
    return (_BIDI_OR_BOM_RE if bom else _BIDI_RE).sub("", text)
