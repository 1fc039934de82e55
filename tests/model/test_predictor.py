import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kashif.model.predictor import Predictor, PredictorConfig, batches_by_length
from tests.support.text_samples import ALPHABET, HARD

SEED_TEXT_MARKERS = ("دونالد ترمب", "المكسيك")


@pytest.fixture(scope="module")
def predictor(tiny_bundle_dir):
    # fp32: the exact-equivalence tests below; bf16 (the "auto" default on bf16 CPUs) has its own test
    return Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(precision="fp32"))


@pytest.fixture(scope="module")
def seed_text():
    from tests.support.arabic_corpus import SEEDS_DIR

    return next(SEEDS_DIR.glob("*.txt")).read_text(encoding="utf-8")


def assert_offsets(text, entities):
    for e in entities:
        assert text[e.start : e.end] == e.text
        assert 0 <= e.start < e.end <= len(text)
        assert 0.0 <= e.score <= 1.0


def test_entities_have_exact_offsets_on_hard_text(predictor, seed_text):
    docs = [HARD, seed_text, "", "   \n ", "😀"]
    results = predictor.entities(docs)
    assert len(results) == len(docs)
    assert results[0] and results[1], "the random tiny model tags something in real text"
    for text, entities in zip(docs, results):
        assert_offsets(text, entities)
    assert results[2] == [] and results[3] == []
    assert {e.label for r in results for e in r} <= {"PERS", "LOC", "ORG", "MISC"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ALPHABET, max_size=120).map("".join))
def test_offsets_property(predictor, text):
    assert_offsets(text, predictor.entities([text])[0])


def test_batched_equals_one_by_one_and_order_is_restored(predictor, seed_text, arabic_sentences):
    docs = [seed_text, *arabic_sentences[:40], HARD, "قصير"]
    together = predictor.entities(docs)
    alone = [predictor.entities([d])[0] for d in docs]
    assert together == alone
    reversed_run = predictor.entities(docs[::-1])
    assert reversed_run[::-1] == together


def test_small_batches_give_the_same_answer(tiny_bundle_dir, predictor, arabic_sentences):
    tiny_batches = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(batch_size=3, max_batch_tokens=64, precision="fp32"))
    docs = arabic_sentences[:30]
    assert tiny_batches.entities(docs) == predictor.entities(docs)


def test_windowing_matches_unwindowed_for_short_text(tiny_bundle_dir, predictor):
    short = "زار محمد علي القاهرة يوم الخميس ."
    windowed = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(max_length=64, window_overlap=8, precision="fp32"))
    assert windowed.entities([short]) == predictor.entities([short])


def test_long_sentence_is_windowed_not_truncated(tiny_bundle_dir):
    words = ["محمد", "علي", "زار", "القاهرة", "و"] * 120  # one sentence of 600 words, far beyond 128 positions
    text = " ".join(words)
    windowed = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(max_length=32, window_overlap=8))
    entities = windowed.entities([text])[0]
    assert_offsets(text, entities)
    assert max(e.end for e in entities) > len(text) - 40, "words at the end of a long sentence are still labelled"


@pytest.mark.parametrize("words", [[30], [2, 30, 1], [5, 5]])
def test_windows_never_exceed_the_window(words):
    # words given by their piece counts; a word longer than the window keeps its first pieces
    pieces = [list(range(100 * i, 100 * i + n)) for i, n in enumerate(words)]
    windows = Predictor._windows(0, 0, pieces, max_pieces=14, overlap=4)
    assert all(len(w.piece_ids) <= 14 for w in windows)
    assert sorted(w for window in windows for w in window.owned) == list(range(len(words)))
    for window in windows:
        for w in window.owned:
            start, end = window.word_piece_ranges[w - window.first_word]
            assert window.piece_ids[start - 1] == pieces[w][0] and end - start == min(len(pieces[w]), 14)


def test_stance_scores_and_order(predictor):
    items = [("الحكومة تؤيد القرار", "القرار جيد"), ("نص بلا هدف", None), ("", "هدف")]
    results = predictor.stance(items)
    assert [r.label for r in results] == [r.label for r in (predictor.stance([i])[0] for i in items)]
    for r in results:
        assert set(r.scores) == {"agree", "disagree", "other"}
        assert abs(sum(r.scores.values()) - 1.0) < 1e-3
        assert r.label == max(r.scores, key=r.scores.get)
        assert r.truncated is False
    assert predictor.stance([]) == []


def test_long_stance_text_is_flagged_truncated(predictor):
    long_text = " ".join(["كلمة"] * 400)
    result = predictor.stance([(long_text, "الهدف")])[0]
    assert result.truncated is True


def test_info_lists_both_tasks(predictor):
    info = predictor.info()
    assert set(info) == {"ner", "stance"}
    assert info["ner"]["labels"][0] == "O"
    assert info["stance"]["backend"] == "torch"


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_other_precisions_keep_offsets(tiny_bundle_dir, precision, seed_text):
    p = Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(precision=precision))
    assert_offsets(seed_text, p.entities([seed_text])[0])


def test_batches_by_length_respects_limits():
    lengths = [5, 50, 7, 48, 6, 100]
    batches = batches_by_length(lengths, batch_size=2, max_batch_tokens=120)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) <= 2
        assert len(b) * max(lengths[i] for i in b) <= 120 or len(b) == 1
    assert batches[0] == [0, 4]


def test_auto_precision_is_bf16_only_where_the_cpu_has_it(tiny_bundle_dir):
    from kashif.model.backends.selection import choose
    from kashif.model.backends.torch_backend import cpu_supports_bf16
    from kashif.model.loading import load_model

    loaded = load_model(str(tiny_bundle_dir / "ner"), task="ner")
    assert choose(loaded, "torch", "int8").precision == "int8"
    assert choose(loaded, "auto", "auto", device="cuda").precision == "bf16"
    if cpu_supports_bf16():
        assert (choose(loaded).backend, choose(loaded).precision) == ("torch", "bf16")
    expected = "bf16" if cpu_supports_bf16() else "fp32"
    # PredictorConfig(backend="torch"): auto precision on torch (given no config, the predictor takes conftest's
    # KASHIF_PRECISION=fp32)
    assert Predictor.from_refs(model=str(tiny_bundle_dir), config=PredictorConfig(backend="torch")).info()["ner"]["precision"] == expected


def test_entity_dict_has_every_field():
    import dataclasses

    from kashif.model.types import Entity

    entity = Entity(text="القاهرة", label="LOC", start=3, end=10, score=0.9)
    assert entity.to_dict() == dataclasses.asdict(entity)


def test_model_flags_and_in_code_configs_take_the_same_environment(monkeypatch):
    import argparse

    from kashif.commands._flags import add_model_arguments, from_args, predictor_config_from_args
    from kashif.model.predictor import ModelRefs
    from kashif.model.settings import from_env

    monkeypatch.setenv("KASHIF_SUBWORD_STRATEGY", "max")
    monkeypatch.setenv("KASHIF_BATCH_SIZE", "7")
    monkeypatch.setenv("KASHIF_NER_MODEL", "some/ner")
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    args = parser.parse_args(["--batch-size", "9"])
    config = predictor_config_from_args(args)
    assert (config.subword_strategy, config.batch_size, config.precision) == ("max", 9, "fp32")  # fp32: conftest
    assert from_args(ModelRefs, args) == ModelRefs(ner_model="some/ner") == from_env(ModelRefs)
    assert from_env(PredictorConfig) == PredictorConfig(subword_strategy="max", batch_size=7, precision="fp32")
    with pytest.raises(SystemExit):
        parser.parse_args(["--subword-strategy", "median"])
    monkeypatch.setenv("KASHIF_BATCH_SIZE", "many")
    with pytest.raises(ValueError, match=r"^KASHIF_BATCH_SIZE='many' is not an integer$"):
        from_env(PredictorConfig)


def test_backend_accessor_names_what_runs_each_task(predictor, tiny_ner_dir):
    assert predictor.backend("ner").name == "torch" and predictor.backend("ner").precision == predictor.info()["ner"]["precision"]
    ner_only = Predictor.from_refs(ner_model=str(tiny_ner_dir), config=PredictorConfig(precision="fp32"), tasks=("ner",))
    with pytest.raises(ValueError, match="no stance model is loaded"):
        ner_only.backend("stance")
