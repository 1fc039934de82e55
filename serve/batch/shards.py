"""Committed output shards and the manifest that makes a scoring job resumable.

Layout next to the output: `OUT.parts/manifest.json` plus, per committed
chunk, `NNNNNNNN.out.jsonl` (records) and `NNNNNNNN.err.jsonl` (refused rows).
A shard is written to a temporary file, fsynced and renamed into place; only
then is the manifest rewritten (temp file, fsync, rename, fsync of the
directory). The manifest is the single commit point: after `kill -9` at any
moment, a shard the manifest does not list is a leftover and is deleted, and
the rows the listed shards cover are skipped on the next run. Shards always
cover a prefix of the input, so resuming is "skip the first N rows".
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Sequence

from kashif.model.errors import KashifError

MANIFEST = "manifest.json"
_VERSION = 1


class ResumeConflict(KashifError):
    """The parts directory belongs to a job with other inputs or options."""


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _jsonl_bytes(records: Sequence[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False, default=str).encode("utf-8") + b"\n" for r in records)


@dataclass
class ShardInfo:
    name: str
    start: int  # first row number covered
    rows: int
    scored: int
    errors: int
    entities: dict[str, int] = field(default_factory=dict)


class ShardStore:
    def __init__(self, output: str | os.PathLike, fingerprint: dict[str, Any]) -> None:
        self.output = Path(output)
        self.dir = self.output.with_name(self.output.name + ".parts")
        self.fingerprint = fingerprint
        self.shards: list[ShardInfo] = []
        self.finished = False

    # ---- opening and resuming -------------------------------------------
    def open(self) -> None:
        """Create the parts directory, or resume from it: load the manifest,
        check it belongs to the same job, delete anything it does not list."""
        if self._trash().exists():
            shutil.rmtree(self._trash())
        self.dir.mkdir(parents=True, exist_ok=True)
        manifest = self.dir / MANIFEST
        if manifest.is_file():
            data = json.loads(manifest.read_text(encoding="utf-8"))
            if data.get("fingerprint") != self.fingerprint:
                raise ResumeConflict(
                    f"{self.dir} holds a partial run with other inputs, models or options; "
                    "rerun that exact command to finish it, or delete the directory to start over"
                )
            self.shards = [ShardInfo(**s) for s in data["shards"]]
            self.finished = bool(data.get("finished"))
        listed = {MANIFEST} | {f"{s.name}.out.jsonl" for s in self.shards} | {f"{s.name}.err.jsonl" for s in self.shards}
        for entry in self.dir.iterdir():
            if entry.name not in listed:
                entry.unlink() if entry.is_file() else shutil.rmtree(entry)

    def discard(self) -> None:
        """Remove the parts directory (a job that committed nothing)."""
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def rows_done(self) -> int:
        return sum(s.rows for s in self.shards)

    @property
    def scored(self) -> int:
        return sum(s.scored for s in self.shards)

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.shards)

    def entity_totals(self) -> Counter:
        total: Counter = Counter()
        for s in self.shards:
            total.update(s.entities)
        return total

    # ---- committing -----------------------------------------------------
    def _write_manifest(self) -> None:
        data = {
            "version": _VERSION,
            "fingerprint": self.fingerprint,
            "finished": self.finished,
            "shards": [s.__dict__ for s in self.shards],
        }
        _write_atomic(self.dir / MANIFEST, lambda h: h.write(json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")))

    def commit(self, rows: int, records: Sequence[dict], errors: Sequence[dict], entities: dict[str, int]) -> ShardInfo:
        """Durably add the next `rows` input rows (their records and errors)."""
        info = ShardInfo(name=f"{len(self.shards):08d}", start=self.rows_done, rows=rows, scored=len(records), errors=len(errors), entities=dict(entities))
        _write_atomic(self.dir / f"{info.name}.err.jsonl", lambda h: h.write(_jsonl_bytes(errors)))
        _write_atomic(self.dir / f"{info.name}.out.jsonl", lambda h: h.write(_jsonl_bytes(records)))
        self.shards.append(info)
        self._write_manifest()
        return info

    def mark_finished(self) -> None:
        self.finished = True
        self._write_manifest()

    # ---- merging --------------------------------------------------------
    def _iter_shard(self, suffix: str) -> Iterator[bytes]:
        for s in self.shards:
            with open(self.dir / f"{s.name}.{suffix}.jsonl", "rb") as handle:
                yield from handle

    def iter_lines(self) -> Iterator[bytes]:
        """The committed records as JSONL lines, in input order."""
        return self._iter_shard("out")

    def iter_records(self) -> Iterator[list[dict]]:
        """The committed records, one list per shard, in input order."""
        for s in self.shards:
            with open(self.dir / f"{s.name}.out.jsonl", "rb") as handle:
                yield [json.loads(line) for line in handle]

    def merge(self, errors_path: str | os.PathLike, write_output: Callable[[BinaryIO], None] | None = None) -> None:
        """Write the final output (`write_output`, by default the records as
        JSONL) and the errors file atomically, in input order, then remove the
        parts directory."""
        _write_atomic(Path(errors_path), lambda h: h.writelines(self._iter_shard("err")))
        _write_atomic(self.output, write_output or (lambda h: h.writelines(self.iter_lines())))
        # Renamed first so that a kill during the removal cannot leave a
        # manifest whose shards are half deleted.
        trash = self._trash()
        os.replace(self.dir, trash)
        shutil.rmtree(trash)

    def _trash(self) -> Path:
        return self.dir.with_name(self.dir.name + ".trash")
