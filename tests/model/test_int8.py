"""Static int8 (ONNX Runtime) and how `auto` picks a path, on tiny random models built in the test session."""
import json

import pytest

from kashif.model.predictor import Predictor, PredictorConfig

pytest.importorskip("onnxruntime")


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache of ONNX exports for this test alone (its int8 checks must not leak into other tests)."""
    monkeypatch.setenv("KASHIF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _labels(predictor: Predictor, texts: list[str]) -> list[list[tuple[int, int, str]]]:
    return [[(e.start, e.end, e.label) for e in doc] for doc in predictor.entities(texts)]


def test_int8_answers_do_not_depend_on_batch_mates(tiny_bundle_dir, arabic_sentences):
    import onnx

    predictor = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(backend="onnx", precision="int8"))
    ops = {n.op_type for n in onnx.load(str(predictor.backend("ner").path)).graph.node}
    assert "DynamicQuantizeLinear" not in ops and {"QuantizeLinear", "MatMulInteger"} <= ops  # fixed activation scales
    texts = arabic_sentences[:40]
    together = _labels(predictor, texts)
    assert any(together), "the tiny random model labels some words"
    alone = [_labels(predictor, [text])[0] for text in texts]
    assert alone == together
    pairs = [(text, "الحكومة") for text in texts[:12]]
    assert [r.label for r in predictor.stance(pairs)] == [predictor.stance([pair])[0].label for pair in pairs]


def test_the_check_is_written_beside_the_export_and_a_failed_one_keeps_auto_off_int8(tiny_bundle_dir, own_cache, monkeypatch):
    from kashif.model.backends.int8 import CHECK_FILE, build_int8
    from kashif.model.backends.onnx_backend import export_onnx
    from kashif.model.loading import load_model

    monkeypatch.setenv("KASHIF_CPU_BF16", "0")
    auto = PredictorConfig(backend="auto", precision="auto")
    loaded = load_model(str(tiny_bundle_dir / "ner"), task="ner")
    fused = export_onnx(loaded, "fp32")
    target = fused.with_name("model.fused.int8.onnx")
    impossible = build_int8(loaded, fused, target, floor=1.01)  # the real check, a bar no model clears
    written = json.loads((target.parent / CHECK_FILE).read_text())
    assert written["passed"] is False and written["agreement"] == impossible.agreement and written["word_agreement"] > 0.5
    info = Predictor(ner=loaded, config=auto).info()["ner"]
    assert (info["backend"], info["precision"]) == ("onnx", "fp32")
    assert "int8 failed its check" in info["reason"] and "no native bf16" in info["reason"]

    build_int8(loaded, fused, target, floor=0.0)
    info = Predictor(ner=loaded, config=auto).info()["ner"]
    assert (info["backend"], info["precision"]) == ("onnx", "int8") and "passed its check" in info["reason"]


def test_kashif_cpu_bf16_decides_auto(tiny_bundle_dir, own_cache, monkeypatch):
    auto = PredictorConfig(backend="auto", precision="auto")
    monkeypatch.setenv("KASHIF_CPU_BF16", "1")
    info = Predictor.from_refs(model=str(tiny_bundle_dir), config=auto).info()
    assert {(i["backend"], i["precision"], i["reason"]) for i in info.values()} == {("torch", "bf16", "the CPU computes bf16 natively")}
    monkeypatch.setenv("KASHIF_CPU_BF16", "0")
    info = Predictor.from_refs(model=str(tiny_bundle_dir), config=auto).info()
    for task, entry in info.items():
        assert entry["backend"] == "onnx" and entry["precision"] in ("int8", "fp32"), task
        assert entry["reason"].startswith("no native bf16 on this CPU; ")
        assert entry["precision"] == ("int8" if "int8 passed its check" in entry["reason"] else "fp32")
    assert len(list(own_cache.glob("onnx/*/model.int8.check.json"))) == len(info)  # one check per model
    monkeypatch.setenv("KASHIF_CPU_BF16", "maybe")
    with pytest.raises(ValueError, match="KASHIF_CPU_BF16"):
        Predictor.from_refs(model=str(tiny_bundle_dir), config=auto)


def test_a_named_backend_and_precision_are_used_as_named(tiny_bundle_dir, monkeypatch):
    monkeypatch.setenv("KASHIF_CPU_BF16", "0")
    info = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(backend="torch", precision="auto")).info()
    assert (info["ner"]["backend"], info["ner"]["precision"]) == ("torch", "fp32")
    info = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(backend="torch", precision="bf16")).info()
    assert (info["ner"]["precision"], info["ner"]["reason"]) == ("bf16", "asked for")


def test_nodes_whose_int8_error_exceeds_the_bound_stay_fp32(tiny_bundle_dir, own_cache):
    import onnx

    from kashif.model.backends.int8 import Int8Recipe, Int8Texts, _feeds, node_errors, quantize
    from kashif.model.backends.onnx_backend import export_onnx
    from kashif.model.loading import load_model

    loaded = load_model(str(tiny_bundle_dir / "ner"), task="ner")
    fused = export_onnx(loaded, "fp32")
    feeds = _feeds(loaded, Int8Texts.calibration())
    errors = node_errors(fused, feeds, Int8Recipe())
    assert len(errors) >= 8 and all(0 < e < 1 for e in errors.values())  # 2 layers × (Attention + 3 MatMul) + classifier
    worst = max(errors, key=errors.get)
    target = fused.with_name("bounded.onnx")
    quantize(fused, target, feeds, Int8Recipe(max_node_error=sorted(errors.values())[-2]))  # all but the worst node
    nodes = {n.name: n.op_type for n in onnx.load(str(target)).graph.node}
    assert nodes[worst] in ("MatMul", "Attention") and "MatMulInteger" in nodes.values()


def test_a_check_made_by_another_recipe_is_rebuilt(tiny_bundle_dir, own_cache):
    from kashif.model.backends.int8 import CHECK_FILE
    from kashif.model.backends.onnx_backend import int8_export
    from kashif.model.loading import load_model

    loaded = load_model(str(tiny_bundle_dir / "ner"), task="ner")
    target, first = int8_export(loaded)
    assert int8_export(loaded)[1] == first  # cached: the same check, not made again
    written = target.parent / CHECK_FILE
    stale = {**json.loads(written.read_text()), "recipe": {"smooth_alpha": None}, "agreement": 1.0}
    written.write_text(json.dumps(stale))  # as an older Kashif with another recipe would have left it
    _, rebuilt = int8_export(loaded)
    assert rebuilt.recipe == first.recipe and rebuilt.agreement == first.agreement
    assert json.loads(written.read_text())["recipe"] == first.recipe
    written.write_text(json.dumps({**json.loads(written.read_text()), "texts": "older-texts", "agreement": 1.0}))
    _, rebuilt = int8_export(loaded)  # calibrated or checked on another Kashif's texts
    assert rebuilt.agreement == first.agreement and json.loads(written.read_text())["texts"] == first.texts != ""


def test_the_check_texts_are_held_out_from_calibration():
    from kashif.model.backends.int8 import Int8Texts

    calibration, held_out = Int8Texts.calibration(), Int8Texts.held_out()
    assert len(held_out.sentences) >= 100 and not set(calibration.sentences) & set(held_out.sentences)
    assert len(held_out.pairs) == len(held_out.sentences) * 3 // 2


def test_a_predictor_runs_the_int8_graph_it_is_given(tiny_bundle_dir, own_cache, arabic_sentences):
    from kashif.model.backends.int8 import Int8Recipe, Int8Texts, _feeds, quantize
    from kashif.model.backends.onnx_backend import OnnxBackend, export_onnx
    from kashif.model.loading import load_model

    loaded = load_model(str(tiny_bundle_dir / "ner"), task="ner")
    fused = export_onnx(loaded, "fp32")
    variant = fused.with_name("variant.onnx")
    quantize(fused, variant, _feeds(loaded, Int8Texts.calibration()), Int8Recipe(exclude=("classifier",)))
    predictor = Predictor(ner=loaded, config=PredictorConfig(backend="onnx", precision="fp32"))
    predictor.use_backend("ner", OnnxBackend(loaded, "int8", graph=variant))
    assert predictor.backend("ner").path == variant and predictor.info()["ner"]["precision"] == "int8"
    assert len(predictor.entities(arabic_sentences[:5])) == 5
    with pytest.raises(ValueError, match="no stance model"):
        predictor.use_backend("stance", predictor.backend("ner"))


def test_the_first_use_of_a_model_says_it_is_building_the_int8_export(tiny_bundle_dir, tmp_path):
    import subprocess
    import sys

    from tests.support.server_fixtures import server_env

    env = server_env({"KASHIF_CPU_BF16": "0", "KASHIF_CACHE_DIR": str(tmp_path / "cache")})
    command = [sys.executable, "-m", "kashif", "entities", "زار محمد القاهرة", "--ner-model", str(tiny_bundle_dir / "ner")]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "building the int8 export of" in first.stderr and "its check: entity-word agreement with fp32" in first.stderr
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout == first.stdout
    assert "building" not in again.stderr  # cached with its check
