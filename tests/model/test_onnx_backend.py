import pytest

from kashif.model.predictor import Predictor, PredictorConfig

pytest.importorskip("onnxruntime")


def test_onnx_fp32_matches_torch(tiny_bundle_dir, arabic_sentences):
    docs = arabic_sentences[:25]
    torch_predictor = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(precision="fp32"))
    onnx_predictor = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(backend="onnx", precision="fp32"))
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


def test_kashif_threads_reaches_torch_and_onnx_alike(tiny_bundle_dir, monkeypatch):
    """KASHIF_THREADS and no --threads flag: the flags, a config built in code and both backends see one number."""
    import argparse

    import torch

    from kashif.commands._flags import add_model_arguments, predictor_config_from_args
    from kashif.model.settings import from_env

    monkeypatch.setenv("KASHIF_THREADS", "2")
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    assert predictor_config_from_args(parser.parse_args([])).threads == 2 == from_env(PredictorConfig).threads
    torch_threads = torch.get_num_threads()
    try:
        monkeypatch.setenv("KASHIF_BACKEND", "onnx")
        predictor = Predictor.from_refs(model=str(tiny_bundle_dir))  # no config: the environment's
        assert predictor.config.threads == 2 and torch.get_num_threads() == 2
        assert predictor.backend("ner").session.get_session_options().intra_op_num_threads == 2
    finally:
        torch.set_num_threads(torch_threads)
    monkeypatch.delenv("KASHIF_THREADS")
    assert from_env(PredictorConfig).threads is None  # unset: each runtime keeps its own default
