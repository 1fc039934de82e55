"""The Python front door, as the README's "Python" section shows it: `kashif.load()` and its three calls, with the
same objects and answer shapes as the CLI and the server."""
from __future__ import annotations

import pytest

import kashif
from kashif.model.answer_formats import answer_classification, answer_entities
from kashif.model.predictor import Predictor, PredictorConfig
from kashif.model.types import Classification, Entity, StanceResult

TEXT = "زار الرئيس محمد القاهرة."


@pytest.fixture(scope="module")
def nlp(tiny_bundle_dir):
    return kashif.load(str(tiny_bundle_dir), precision="fp32")  # kashif.load() alone: the bundled model


@pytest.fixture(scope="module")
def sentiment(tiny_classify_dir):
    return kashif.load(classify_model=str(tiny_classify_dir), precision="fp32")


@pytest.fixture(scope="module")
def reference(tiny_bundle_dir, tiny_classify_dir):
    """The Predictor the CLI and the server use, on the same models."""
    return Predictor.from_refs(str(tiny_bundle_dir), classify_model=str(tiny_classify_dir), config=PredictorConfig(precision="fp32"))


def test_readme_entities(nlp, reference, arabic_sentences):
    assert nlp.tasks == ("ner", "stance")
    found = nlp.entities(TEXT)
    assert isinstance(found, list) and all(isinstance(e, Entity) and TEXT[e.start : e.end] == e.text for e in found)
    assert found == reference.entities([TEXT])[0]
    texts = arabic_sentences[:4]
    assert nlp.entities(texts) == reference.entities(texts)
    assert nlp.entities(texts, format="hf") == [answer_entities(t, e, "hf") for t, e in zip(texts, reference.entities(texts))]
    kept = nlp.entities(texts, labels=["PERS"], min_score=0.0)
    assert all(e.label == "PERS" for doc in kept for e in doc)


def test_readme_stance(nlp, reference):
    result = nlp.stance("الحكومة تعلن خفض الضرائب", target="الضرائب سترتفع")
    assert isinstance(result, StanceResult) and result == reference.stance([("الحكومة تعلن خفض الضرائب", "الضرائب سترتفع")])[0]
    assert nlp.stance(["نص أول", "نص ثان"], target="الحكومة", format="kashif") == [
        r.to_dict() for r in reference.stance([("نص أول", "الحكومة"), ("نص ثان", "الحكومة")])]
    with pytest.raises(ValueError, match="no classify model is loaded"):
        nlp.classify("نص")


def test_readme_classify(sentiment, reference):
    assert sentiment.tasks == ("classify",)
    result = sentiment.classify("الخدمة ممتازة")
    assert isinstance(result, Classification) and result == reference.classify(["الخدمة ممتازة"])[0]
    assert result.label in sentiment.labels("classify")
    top = sentiment.classify(["الخدمة ممتازة", "الخدمة سيئة"], format="hf", top_k=1)
    assert top == [answer_classification(r, "hf", 1) for r in reference.classify(["الخدمة ممتازة", "الخدمة سيئة"])]
    assert len(top[0]) == 1 and set(top[0][0]) == {"label", "score"}


def test_bad_calls_say_what_is_wrong(sentiment):
    with pytest.raises(TypeError, match="text 1 is int, not str"):
        sentiment.classify(["نص", 7])
    with pytest.raises(ValueError, match="unknown answer format 'displacy'"):
        sentiment.classify("نص", format="displacy")
    with pytest.raises(TypeError):
        kashif.load(sentiment_model="x")  # not a task: PredictorConfig has no such setting
    with pytest.raises(TypeError, match="not both"):
        kashif.load(config=PredictorConfig(), device="cpu")  # a keyword would be dropped
