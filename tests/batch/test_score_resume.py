"""`kill -9` at any moment, then the same command: the output equals an
uninterrupted run exactly (every row once, same order, same ids)."""
from __future__ import annotations

import subprocess

from kashif.commands.score import run as main
from tests.support.score_fixtures import (
    REPO,
    kill_when,
    manifest_shards,
    read_jsonl,
    score_command,
    subprocess_env,
    write_format,
)

ROWS = 300
CHUNK = 20


def test_killed_runs_resume_to_the_uninterrupted_output(tiny_bundle_dir, arabic_sentences, tmp_path):
    docs = [{"id": f"d{i}", "text": arabic_sentences[i % len(arabic_sentences)], "claim": "التطبيع"} for i in range(ROWS)]
    docs[17]["text"] = None  # a refused row must also come out exactly once
    docs[251]["text"] = 42
    src = write_format(docs, tmp_path, "jsonl")
    args = ["--id-field", "id", "--target-field", "claim", "--chunk-size", str(CHUNK), "--model", str(tiny_bundle_dir), "-q"]

    expected_out = tmp_path / "expected.jsonl"
    assert main([str(src), "--output", str(expected_out), *args]) == 1
    expected = expected_out.read_bytes()
    expected_errors = (tmp_path / "expected.jsonl.errors.jsonl").read_bytes()

    out = tmp_path / "out.jsonl"
    parts = tmp_path / "out.jsonl.parts"
    command = score_command(src, "--output", out, *args)
    slow_command = score_command(src, "--output", out, *args, commit_delay_ms=400)  # sleeps before each commit rename
    env = subprocess_env()

    # 1. in the middle of a shard write, after at least one commit: the
    #    shard's temp file exists and is not yet renamed into place
    kill_when(slow_command, env, lambda: manifest_shards(parts) >= 1 and any(parts.glob("*.out.jsonl.tmp")))
    assert any(parts.glob("*.tmp"))
    committed = manifest_shards(parts)
    # 2. between a shard's rename and the manifest update that commits it
    kill_when(slow_command, env, lambda: (parts / "manifest.json.tmp").exists() and manifest_shards(parts) > committed)
    # 3. while starting up (model loading), before it commits anything new
    kill_when(slow_command, env, lambda: True)
    assert not out.exists()
    assert 0 < manifest_shards(parts) < ROWS // CHUNK

    finished = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert finished.returncode == 1, finished.stderr  # the two refused rows
    assert "resumed after" in finished.stderr
    assert out.read_bytes() == expected
    assert (tmp_path / "out.jsonl.errors.jsonl").read_bytes() == expected_errors
    records = read_jsonl(out)
    assert [r["id"] for r in records] == [d["id"] for i, d in enumerate(docs) if i not in (17, 251)]
    assert not parts.exists()
