"""Helpers for the `kashif score` tests: write one set of documents in every
input format, run the scorer, read its outputs."""
from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import FIXTURES, REPO

SCORE_FIXTURES = FIXTURES / "score"


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_parquet(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    for row in rows:  # maps come back as (key, value) pairs
        for s in row.get("stance") or []:
            s["scores"] = dict(s["scores"])
        if row.get("classify"):
            row["classify"]["scores"] = dict(row["classify"]["scores"])
    return rows


def write_format(docs: list[dict], directory: Path, fmt: str) -> Path:
    """The same rows (keys id, text, claim) as a file or directory in `fmt`
    (jsonl, jsonl.gz, csv, csv.gz, tsv, parquet, txt, txt.gz, datasets)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"docs.{fmt}"
    opener = gzip.open if fmt.endswith(".gz") else open
    base = fmt.removesuffix(".gz")
    if base == "jsonl":
        with opener(path, "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    elif base in ("csv", "tsv"):
        with opener(path, "wt", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(docs[0]), delimiter="," if base == "csv" else "\t")
            writer.writeheader()
            writer.writerows(docs)
    elif base == "txt":
        with opener(path, "wt", encoding="utf-8") as f:
            f.writelines(d["text"] + "\n" for d in docs)
    elif base == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(docs), path, row_group_size=7)
    elif base == "datasets":
        from datasets import Dataset

        Dataset.from_list(docs).save_to_disk(str(path))
    else:
        raise ValueError(fmt)
    return path


def score_command(*args: str | os.PathLike, commit_delay_ms: int | None = None) -> list[str]:
    """`kashif score ARGS` in a subprocess; with `commit_delay_ms`, each commit (the rename of a temp file into
    place) waits that long first (`tests.support.slow_commits`), so that a kill can land mid-commit."""
    if commit_delay_ms is None:
        return [sys.executable, "-m", "kashif", "score", *map(str, args)]
    return [sys.executable, "-m", "tests.support.slow_commits", str(commit_delay_ms), "score", *map(str, args)]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)})
    env.update(extra)
    return env


def run_score(*args: str | os.PathLike, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(score_command(*args), cwd=REPO, env=subprocess_env(**env), capture_output=True, text=True, timeout=timeout)


def manifest_shards(parts: Path) -> int:
    """Shards the manifest of a parts directory lists (0 while there is none)."""
    try:
        return len(json.loads((parts / "manifest.json").read_text())["shards"])
    except (OSError, ValueError, KeyError):
        return 0


def kill_when(command: list[str], env: dict, condition, timeout: float = 90) -> None:
    """Start the scorer and SIGKILL it as soon as `condition()` holds."""
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            if proc.poll() is not None:
                pytest.fail(f"the scorer finished before the kill point: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the kill point was never reached")
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
