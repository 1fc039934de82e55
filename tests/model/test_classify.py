"""Text classification, the registry's third task: a plain hub-style sequence classifier (no kashif.json) served as
what it is when --classify-model names it, scored as `transformers.pipeline("text-classification")` scores it."""
from __future__ import annotations

import shutil

import pytest

from kashif.model.loading import ModelLoadError, load_model, resolve_model_refs
from kashif.model.predictor import Predictor, PredictorConfig
from kashif.model.types import Classification
from tests.support.tiny_models import SENTIMENT_LABELS, TOPIC_LABELS

TEXTS = ["قرار رائع ومفيد للجميع", "صدر التقرير اليوم عن وزارة الخارجية في القاهرة", "خدمة رديئة"]


def _pipeline_scores(model_dir, texts):
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(model_dir), device="cpu", top_k=None)
    return [{d["label"]: d["score"] for d in answer} for answer in pipe(texts)]


def test_a_plain_sequence_classifier_named_by_its_flag_classifies_single_texts(tiny_classify_dir):
    predictor = Predictor.from_refs(classify_model=str(tiny_classify_dir), config=PredictorConfig(precision="fp32"))
    assert predictor.tasks == ("classify",) and predictor.labels("classify") == SENTIMENT_LABELS
    results = predictor.classify(TEXTS)
    assert all(isinstance(r, Classification) and r.labels is None and not r.truncated for r in results)
    # one text alone, not a pair: the same scores as the transformers pipeline
    for ours, theirs in zip(results, _pipeline_scores(tiny_classify_dir, TEXTS)):
        assert ours.scores == pytest.approx(theirs, abs=1e-4)
        assert ours.label == max(theirs, key=theirs.get)
    assert predictor.run("classify", TEXTS) == results
    assert predictor.info()["classify"]["task"] == "classify" and predictor.info()["classify"]["labels"] == SENTIMENT_LABELS


def test_a_long_text_is_cut_and_flagged(tiny_classify_dir):
    predictor = Predictor.from_refs(classify_model=str(tiny_classify_dir), config=PredictorConfig(precision="fp32", max_length=16))
    short, long = predictor.classify(["خبر قصير", " ".join(TEXTS * 10)])
    assert not short.truncated and long.truncated


def test_multi_label_models_get_sigmoid_scores_and_a_threshold(tiny_topics_dir):
    predictor = Predictor.from_refs(classify_model=str(tiny_topics_dir), config=PredictorConfig(precision="fp32"))
    assert predictor.info()["classify"]["multi_label"] is True
    results = predictor.classify(TEXTS)
    for ours, theirs in zip(results, _pipeline_scores(tiny_topics_dir, TEXTS)):
        assert ours.scores == pytest.approx(theirs, abs=1e-4)  # the pipeline's sigmoid, not a softmax
        assert list(ours.labels) == [label for label in sorted(theirs, key=theirs.get, reverse=True) if theirs[label] >= 0.5]
    assert sum(results[0].scores.values()) != pytest.approx(1.0, abs=1e-3)
    everything = Predictor.from_refs(classify_model=str(tiny_topics_dir),
                                     config=PredictorConfig(precision="fp32", multi_label_threshold=0.0)).classify(TEXTS[:1])[0]
    assert sorted(everything.labels) == sorted(TOPIC_LABELS) and everything.to_dict()["labels"] == list(everything.labels)
    with pytest.raises(ValueError, match="multi_label_threshold must be between 0 and 1"):
        PredictorConfig(multi_label_threshold=1.5)


def test_the_role_comes_from_the_flag_or_kashif_json(tiny_classify_dir, tiny_ner_dir, tiny_stance_dir, tmp_path):
    # unnamed, a plain sequence classifier is a stance model, as before the registry
    assert resolve_model_refs(model=str(tiny_classify_dir)) == {"stance": str(tiny_classify_dir)}
    assert load_model(tiny_classify_dir).task == "stance"
    assert load_model(tiny_classify_dir, task="classify").task == "classify"
    # the flag says the role, within the model's head: a token classifier is never a text classifier
    with pytest.raises(ModelLoadError, match="this is a ner model, but a classify model is needed here"):
        load_model(tiny_ner_dir, task="classify")
    assert load_model(tiny_stance_dir, task="classify").task == "classify"
    # a bundle may hold classify/ beside ner/ and stance/
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_ner_dir, bundle / "ner")
    shutil.copytree(tiny_classify_dir, bundle / "classify")
    assert resolve_model_refs(model=str(bundle)) == {"ner": str(bundle / "ner"), "classify": str(bundle / "classify")}
    predictor = Predictor.from_refs(str(bundle), config=PredictorConfig(precision="fp32"))
    assert predictor.tasks == ("ner", "classify")
    with pytest.raises(ValueError, match="no stance model is loaded"):
        predictor.stance([("نص", "هدف")])


def test_a_predictor_needs_a_model_and_knows_only_registered_tasks(tiny_classify_dir):
    with pytest.raises(ValueError, match="a predictor needs at least one model"):
        Predictor()
    loaded = load_model(tiny_classify_dir, task="classify")
    with pytest.raises(ValueError, match="unknown task 'sentiment'"):
        Predictor({"sentiment": loaded})
    with pytest.raises(TypeError, match="unknown model references: sentiment_model"):
        resolve_model_refs(sentiment_model="x")
