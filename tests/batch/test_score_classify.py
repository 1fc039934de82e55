"""`kashif score --tasks classify`: a text classifier's label per row, in JSONL and Parquet, resumable after kill -9."""
from __future__ import annotations

import subprocess

from kashif.model.predictor import Predictor, PredictorConfig
from kashif.commands.score import run as main
from tests.support.score_fixtures import (
    REPO,
    kill_when,
    manifest_shards,
    read_jsonl,
    read_parquet,
    score_command,
    subprocess_env,
    write_format,
)


def test_classify_records_in_jsonl_and_parquet(tiny_bundle_dir, tiny_classify_dir, arabic_sentences, tmp_path, capsys):
    docs = [{"id": f"d{i}", "text": text} for i, text in enumerate(arabic_sentences[:12])]
    src = write_format(docs, tmp_path, "jsonl")
    args = ["--id-field", "id", "--model", str(tiny_bundle_dir), "--classify-model", str(tiny_classify_dir), "-q"]
    assert main([str(src), "--output", str(tmp_path / "out.jsonl"), "--tasks", "entities,classify", *args, "--chunk-size", "5"]) == 0
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [set(r) for r in records] == [{"id", "entities", "classify"}] * len(docs)
    expected = Predictor.from_refs(classify_model=str(tiny_classify_dir), config=PredictorConfig(precision="fp32")).classify(
        [d["text"] for d in docs])
    assert [r["classify"]["label"] for r in records] == [e.label for e in expected]
    assert [set(r["classify"]) for r in records] == [{"label", "scores", "truncated"}] * len(docs)

    assert main([str(src), "--output", str(tmp_path / "out.parquet"), "--tasks", "entities,classify", *args]) == 0
    assert read_parquet(tmp_path / "out.parquet") == records
    # every task the models serve, by default: the bundle's entities and stance, and the classifier
    assert main([str(src), "--output", str(tmp_path / "all.jsonl"), *args]) == 0
    assert set(read_jsonl(tmp_path / "all.jsonl")[0]) == {"id", "entities", "stance", "classify"}
    capsys.readouterr()


def test_targets_without_a_pair_task_are_a_usage_error(tiny_classify_dir, tmp_path, capsys):
    src = write_format([{"text": "نص"}], tmp_path, "jsonl")
    code = main([str(src), "--output", str(tmp_path / "o.jsonl"), "--classify-model", str(tiny_classify_dir), "--target", "x", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--target/--target-field ask for stance, but no stance model is used" in err


def test_a_killed_classify_run_resumes_to_the_uninterrupted_output(tiny_classify_dir, arabic_sentences, tmp_path):
    rows = 80
    docs = [{"id": f"d{i}", "text": arabic_sentences[i % len(arabic_sentences)]} for i in range(rows)]
    src = write_format(docs, tmp_path, "jsonl")
    args = ["--id-field", "id", "--tasks", "classify", "--classify-model", str(tiny_classify_dir), "--chunk-size", "10", "-q"]
    expected = tmp_path / "expected.parquet"
    assert main([str(src), "--output", str(expected), *args]) == 0

    out = tmp_path / "out.parquet"
    parts = tmp_path / "out.parquet.parts"
    kill_when(score_command(src, "--output", out, *args, commit_delay_ms=300), subprocess_env(),
              lambda: manifest_shards(parts) >= 2, timeout=300)
    assert not out.exists() and 2 <= manifest_shards(parts) < rows // 10
    finished = subprocess.run(score_command(src, "--output", out, *args), cwd=REPO, env=subprocess_env(),
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert "resumed after" in finished.stderr
    assert read_parquet(out) == read_parquet(expected)
    assert [r["id"] for r in read_parquet(out)] == [d["id"] for d in docs]
