import numpy as np
import pytest

from kashif.model.decoding import bio_spans, pool_word_probs, softmax, split_tag


def spans(tags, scores=None):
    scores = scores or [1.0] * len(tags)
    return [(s.first, s.last, s.label, round(s.score, 4)) for s in bio_spans(tags, scores)]


def test_plain_bio():
    assert spans(["B-PERS", "I-PERS", "O", "B-LOC"]) == [(0, 1, "PERS", 1.0), (3, 3, "LOC", 1.0)]


def test_i_after_o_starts_an_entity():
    assert spans(["O", "I-ORG", "I-ORG", "O"]) == [(1, 2, "ORG", 1.0)]


def test_type_change_inside_starts_a_new_entity():
    assert spans(["B-PERS", "I-LOC", "I-LOC"]) == [(0, 0, "PERS", 1.0), (1, 2, "LOC", 1.0)]


def test_b_after_b_splits():
    assert spans(["B-LOC", "B-LOC", "I-LOC"]) == [(0, 0, "LOC", 1.0), (1, 2, "LOC", 1.0)]


def test_bioes_and_bare_labels():
    assert spans(["S-PERS", "B-ORG", "E-ORG", "E-ORG"]) == [(0, 0, "PERS", 1.0), (1, 2, "ORG", 1.0), (3, 3, "ORG", 1.0)]
    assert spans(["PERS", "PERS", "O"]) == [(0, 1, "PERS", 1.0)]
    assert split_tag("B_MIS") == ("B", "MIS")


def test_span_score_is_mean_of_word_scores():
    assert spans(["B-PERS", "I-PERS", "I-PERS"], [0.9, 0.6, 0.3]) == [(0, 2, "PERS", 0.6)]


def test_entity_at_the_end_is_closed():
    assert spans(["O", "B-MISC"]) == [(1, 1, "MISC", 1.0)]
    assert spans([]) == []


def test_subword_pooling_on_known_logits():
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    probs = softmax(logits)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(pool_word_probs(probs, "first"), [0.7, 0.2, 0.1], rtol=1e-6)
    np.testing.assert_allclose(pool_word_probs(probs, "mean"), [0.4, 0.15, 0.45], rtol=1e-6)
    np.testing.assert_allclose(pool_word_probs(probs, "max"), [0.1, 0.1, 0.8], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown subword strategy"):
        pool_word_probs(probs, "last")
