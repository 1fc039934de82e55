import pytest

from kashif.model.predictor import Predictor, PredictorConfig

pytest.importorskip("onnxruntime")


def test_onnx_fp32_matches_torch(tiny_bundle_dir, arabic_sentences):
    docs = arabic_sentences[:25]
    torch_predictor = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(precision="fp32"))
    onnx_predictor = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(backend="onnx"))
    expected = torch_predictor.entities(docs)
    got = onnx_predictor.entities(docs)
    assert [[(e.start, e.end, e.label) for e in doc] for doc in got] == [[(e.start, e.end, e.label) for e in doc] for doc in expected]
    pairs = [(s, "هدف") for s in docs[:5]]
    for a, b in zip(onnx_predictor.stance(pairs), torch_predictor.stance(pairs)):
        assert a.scores == pytest.approx(b.scores, abs=1e-3)


def test_onnx_int8_runs_and_keeps_offsets(tiny_bundle_dir, arabic_sentences):
    predictor = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(backend="onnx", precision="int8"))
    for text, entities in zip(arabic_sentences[:10], predictor.entities(arabic_sentences[:10])):
        for e in entities:
            assert text[e.start : e.end] == e.text


def test_onnx_rejects_bf16(tiny_bundle_dir):
    with pytest.raises(ValueError, match="fp32 or int8"):
        Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(backend="onnx", precision="bf16"))
