"""Streaming unlabeled text for pretraining: plain text, JSONL(.gz) or CoNLL files.

Everything is a generator so RAM stays bounded by the dedup/exclusion hash
sets (8 bytes per paragraph/sentence), never by the corpus. Each yielded
paragraph is already pre-tokenized the way the inference side sees text:
`model.text.split_words` + `normalize_word`, words joined by single spaces.
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kashif.model.errors import KashifError
from kashif.model.inputs import format_from_name, open_text, strip_bidi_marks
from kashif.model.text import Normalization, normalize_word, split_sentences, split_words

FORMATS = ("text", "jsonl", "conll")


class CorpusError(KashifError, ValueError):
    """A corpus or exclusion file that cannot be read, with file and line."""


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def normalized_words(text: str, normalization: Normalization) -> list[str]:
    words = (normalize_word(text[s:e], normalization) for s, e in split_words(text))
    return [w for w in words if w]


def _key_of_words(words: list[str]) -> int:
    return _digest(" ".join(w for w in words if any(ch.isalnum() for ch in w)))


def sentence_key(text: str, normalization: Normalization) -> int:
    """Hash of a sentence that ignores spacing, punctuation, diacritics and the like."""
    return _key_of_words(normalized_words(text, normalization))


def detect_format(path: str | Path) -> str:
    """jsonl or conll when the name says so (`.gz` looked through); any other file is plain text."""
    by_name = format_from_name(path)
    return by_name if by_name in ("jsonl", "conll") else "text"


@dataclass
class CorpusSource:
    path: Path
    format: str = "auto"
    text_field: str = "text"
    # Records whose `match_field` (e.g. an ANT title) is an excluded sentence are
    # dropped whole; the field itself is never yielded as text.
    match_field: str | None = None

    def resolved_format(self) -> str:
        fmt = detect_format(self.path) if self.format == "auto" else self.format
        if fmt not in FORMATS:
            raise CorpusError(f"{self.path}: unknown corpus format {fmt!r} (use one of {', '.join(FORMATS)})")
        return fmt


def parse_source(spec: str, text_field: str = "text", match_field: str | None = None) -> CorpusSource:
    """`PATH` or `FORMAT:PATH` (e.g. `conll:train.txt`)."""
    fmt, sep, rest = spec.partition(":")
    if sep and fmt in FORMATS:
        return CorpusSource(Path(rest), fmt, text_field, match_field)
    return CorpusSource(Path(spec), "auto", text_field, match_field)


def iter_records(source: CorpusSource) -> Iterator[tuple[str, str | None]]:
    """(document text, match-field value) per document, streamed."""
    fmt = source.resolved_format()
    if not source.path.is_file():
        raise CorpusError(f"{source.path}: corpus file not found")
    try:
        with open_text(source.path, error=CorpusError) as handle:
            if fmt == "jsonl":
                for lineno, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise CorpusError(f"{source.path}:{lineno}: invalid JSON: {err.msg}") from None
                    if not isinstance(record, dict) or source.text_field not in record:
                        raise CorpusError(f"{source.path}:{lineno}: no {source.text_field!r} field")
                    text = record[source.text_field]
                    if not isinstance(text, str):
                        raise CorpusError(f"{source.path}:{lineno}: field {source.text_field!r} is not a string")
                    match = record.get(source.match_field) if source.match_field else None
                    yield text, match if isinstance(match, str) else None
            elif fmt == "conll":
                words: list[str] = []
                for line in handle:
                    line = strip_bidi_marks(line).strip()
                    if not line or line.startswith("-DOCSTART-"):
                        if words:
                            yield " ".join(words), None
                            words = []
                        continue
                    words.append(line.replace("\t", " ").split(" ")[0])
                if words:
                    yield " ".join(words), None
            else:
                # Blank lines separate documents; each line is a paragraph.
                lines: list[str] = []
                for line in handle:
                    if line.strip():
                        lines.append(line.rstrip("\r\n"))
                    elif lines:
                        yield "\n".join(lines), None
                        lines = []
                if lines:
                    yield "\n".join(lines), None
    except (OSError, EOFError) as err:
        raise CorpusError(f"{source.path}: cannot read: {err}") from None


def load_exclusions(
    paths: Iterable[str | Path],
    normalization: Normalization,
    columns: tuple[str, ...] = ("s1", "s2", "claim_s", "text", "sentence"),
) -> set[int]:
    """Sentence keys that must never reach pretraining text.

    CSV/TSV files contribute every cell of the named columns that exist;
    any other file contributes one sentence per non-empty line.
    """
    keys: set[int] = set()
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise CorpusError(f"{path}: exclusion file not found")
        suffix = path.suffix.lower()
        with open_text(path, newline="", error=CorpusError) as handle:
            if suffix in (".csv", ".tsv"):
                reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
                present = [c for c in columns if c in (reader.fieldnames or [])]
                if not present:
                    raise CorpusError(f"{path}: none of the columns {', '.join(columns)} in the header")
                for row in reader:
                    for column in present:
                        if row.get(column):
                            keys.add(sentence_key(row[column], normalization))
            else:
                for line in handle:
                    if line.strip():
                        keys.add(sentence_key(line, normalization))
    return keys


@dataclass
class CorpusStats:
    documents: int = 0
    documents_excluded: int = 0
    paragraphs: int = 0
    duplicate_paragraphs: int = 0
    sentences_excluded: int = 0
    words: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class CorpusReader:
    sources: list[CorpusSource]
    normalization: Normalization = field(default_factory=Normalization)
    exclusions: set[int] = field(default_factory=set)
    dedup: bool = True
    min_words: int = 3
    max_documents: int | None = None
    stats: CorpusStats = field(default_factory=CorpusStats)

    def __iter__(self) -> Iterator[str]:
        """Normalized paragraphs (words joined by spaces), deduplicated, excluded sentences removed."""
        self.stats = CorpusStats()
        seen: set[int] = set()
        for source in self.sources:
            for text, match in iter_records(source):
                if self.max_documents is not None and self.stats.documents >= self.max_documents:
                    return
                self.stats.documents += 1
                if match and self.exclusions and sentence_key(match, self.normalization) in self.exclusions:
                    self.stats.documents_excluded += 1
                    continue
                for paragraph in text.splitlines():
                    out = self._clean(paragraph)
                    if len(out) < self.min_words:
                        continue
                    joined = " ".join(out)
                    if self.dedup:
                        key = _digest(joined)
                        if key in seen:
                            self.stats.duplicate_paragraphs += 1
                            continue
                        seen.add(key)
                    self.stats.paragraphs += 1
                    self.stats.words += len(out)
                    yield joined

    def _clean(self, paragraph: str) -> list[str]:
        words: list[str] = []
        for s, e in split_sentences(paragraph):
            sentence = normalized_words(paragraph[s:e], self.normalization)
            if self.exclusions and _key_of_words(sentence) in self.exclusions:
                self.stats.sentences_excluded += 1
                continue
            words.extend(sentence)
        return words
