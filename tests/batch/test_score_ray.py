"""`--engine ray` (a local Ray instance) writes what the local engine writes."""
from __future__ import annotations

import pytest

from kashif.commands.score import run as main
from tests.support.score_fixtures import SCORE_FIXTURES, read_jsonl, write_format

pytest.importorskip("ray")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
pytest.importorskip("ray.data")


@pytest.fixture
def no_ray_cluster(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")


def test_ray_engine_equals_local_engine(tiny_bundle_dir, arabic_sentences, tmp_path, no_ray_cluster):
    docs = [{"id": f"d{i}", "text": t, "claim": "التطبيع"} for i, t in enumerate(arabic_sentences[:60])]
    first = write_format(docs[:40], tmp_path / "a", "jsonl.gz")
    # a second file with refused rows (bad JSON, null and non-string text) after good ones
    second = tmp_path / "b" / "docs.jsonl"
    second.parent.mkdir()
    second.write_bytes((SCORE_FIXTURES / "docs.jsonl").read_bytes())
    common = ["--target-field", "claim", "--id-field", "id", "--chunk-size", "16", "--model", str(tiny_bundle_dir), "-q"]

    local = tmp_path / "local.jsonl"
    assert main([str(first), str(second), "--output", str(local), *common]) == 1
    on_ray = tmp_path / "ray.jsonl"
    code = main([str(first), str(second), "--output", str(on_ray), *common, "--engine", "ray", "--ray-concurrency", "2", "--num-cpus", "1"])
    assert code == 1
    assert on_ray.read_bytes() == local.read_bytes()
    assert (tmp_path / "ray.jsonl.errors.jsonl").read_bytes() == (tmp_path / "local.jsonl.errors.jsonl").read_bytes()
    assert len(read_jsonl(on_ray)) == 40 + 6
