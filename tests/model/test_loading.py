import json
import shutil
import subprocess
import sys

import pytest

from kashif.model.loading import ModelLoadError, load_model, resolve_model_refs
from kashif.model.metadata import ModelMetadata


def test_loads_local_dir_like_a_hub_checkpoint(tiny_ner_dir):
    loaded = load_model(str(tiny_ner_dir), task="ner")
    assert loaded.task == "ner"
    assert loaded.labels[0] == "O" and "B-PERS" in loaded.labels
    assert loaded.tokenizer.is_fast


def test_plain_transformers_pipeline_loads_our_dir(tiny_ner_dir):
    from transformers import pipeline

    tagger = pipeline("token-classification", model=str(tiny_ner_dir))
    assert isinstance(tagger("زار محمد القاهرة"), list)


def test_missing_dir(tmp_path):
    with pytest.raises(ModelLoadError, match="no such model directory"):
        load_model(str(tmp_path / "nope"))


def test_dir_without_tokenizer(tmp_path, tiny_ner_dir):
    broken = tmp_path / "no_tokenizer"
    broken.mkdir()
    for name in ("config.json", "model.safetensors", "kashif.json"):
        shutil.copy(tiny_ner_dir / name, broken / name)
    with pytest.raises(ModelLoadError, match="no tokenizer"):
        load_model(str(broken))


def test_dir_without_config(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    with pytest.raises(ModelLoadError, match="config.json is missing"):
        load_model(str(tmp_path))


def test_corrupt_weights_fail_with_one_line(tmp_path, tiny_ner_dir):
    broken = tmp_path / "corrupt"
    shutil.copytree(tiny_ner_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError) as info:
        load_model(str(broken))
    assert "\n" not in str(info.value) and str(broken) in str(info.value)


def test_wrong_task(tiny_stance_dir):
    with pytest.raises(ModelLoadError, match="this is a stance model, but a ner model is needed"):
        load_model(str(tiny_stance_dir), task="ner")


def test_hub_id_while_offline_names_the_id_and_the_variable():
    with pytest.raises(ModelLoadError) as info:
        load_model("CAMeL-Lab/bert-base-arabic-camelbert-msa-ner", task="ner")
    message = str(info.value)
    assert "CAMeL-Lab/bert-base-arabic-camelbert-msa-ner" in message and "HF_HUB_OFFLINE" in message


def test_invalid_metadata(tmp_path, tiny_ner_dir):
    broken = tmp_path / "badmeta"
    shutil.copytree(tiny_ner_dir, broken)
    (broken / "kashif.json").write_text(json.dumps({"task": "translation", "labels": ["x"]}))
    with pytest.raises(ModelLoadError, match="invalid kashif.json"):
        load_model(str(broken))


def test_model_without_metadata_takes_task_from_architecture(tmp_path, tiny_stance_dir):
    plain = tmp_path / "plain"
    shutil.copytree(tiny_stance_dir, plain)
    (plain / "kashif.json").unlink()
    loaded = load_model(str(plain))
    assert loaded.task == "stance" and loaded.labels == ["agree", "disagree", "other"]
    assert ModelMetadata.load(plain) is None


def test_bundle_resolution(tiny_bundle_dir, tiny_ner_dir, tmp_path):
    refs = resolve_model_refs(model=str(tiny_bundle_dir))
    assert refs == {"ner": str(tiny_bundle_dir / "ner"), "stance": str(tiny_bundle_dir / "stance")}
    assert resolve_model_refs(model=str(tiny_bundle_dir), stance_model="x/y")["stance"] == "x/y"
    assert resolve_model_refs(model=str(tiny_ner_dir)) == {"ner": str(tiny_ner_dir)}
    with pytest.raises(ModelLoadError, match="not a bundle"):
        resolve_model_refs(model=str(tmp_path))


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "kashif", *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_cli_entities_prints_exact_offsets(tiny_bundle_dir):
    text = "قالت وزارة الخارجية الأميركية إن الرئيس دونالد ترمب زار المكسيك."
    done = run_cli("entities", text, "--model", str(tiny_bundle_dir))
    assert done.returncode == 0, done.stderr
    entities = json.loads(done.stdout)["entities"]
    assert entities
    for e in entities:
        assert text[e["start"] : e["end"]] == e["text"]


def test_cli_reads_stdin_and_stance(tiny_bundle_dir):
    done = run_cli("stance", "--target", "القرار", "--target", "الحكومة", "--model", str(tiny_bundle_dir), stdin="نص من المدخل القياسي")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)["stance"]
    assert [r["target"] for r in out] == ["القرار", "الحكومة"]


def test_cli_errors_are_one_line(tmp_path):
    done = run_cli("entities", "نص", "--ner-model", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no such model directory" in done.stderr
    assert done.stderr.startswith("kashif entities: error: ")
    assert run_cli("frobnicate").returncode == 2
