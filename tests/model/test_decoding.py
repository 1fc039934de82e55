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


LABELS = ["O", "B-PERS", "I-PERS", "B-LOC", "I-LOC"]


def word_probs(rows):
    return np.array(rows, dtype=np.float32)


def test_constrained_decoding_never_opens_with_inside():
    from kashif.model.decoding import bio_transitions, constrained_tags

    # argmax would say O, I-LOC, I-LOC: an inside tag with nothing to continue
    probs = word_probs([[0.9, 0.02, 0.02, 0.03, 0.03], [0.1, 0.05, 0.05, 0.35, 0.45], [0.1, 0.05, 0.05, 0.1, 0.7]])
    tags = [LABELS[i] for i in constrained_tags(probs, LABELS, bio_transitions(LABELS))]
    assert tags == ["O", "B-LOC", "I-LOC"]


def test_constrained_decoding_keeps_a_valid_argmax():
    from kashif.model.decoding import bio_transitions, constrained_tags

    probs = word_probs([[0.1, 0.8, 0.05, 0.03, 0.02], [0.1, 0.1, 0.7, 0.05, 0.05], [0.9, 0.02, 0.02, 0.03, 0.03]])
    assert constrained_tags(probs, LABELS, bio_transitions(LABELS)) == list(probs.argmax(axis=1))


def test_constrained_decoding_does_not_continue_another_type():
    from kashif.model.decoding import bio_transitions, constrained_tags

    # B-PERS then a word that argmax calls I-LOC: the best valid path is B-PERS, B-LOC or B-PERS, I-PERS
    probs = word_probs([[0.05, 0.9, 0.02, 0.02, 0.01], [0.05, 0.05, 0.3, 0.2, 0.4]])
    tags = [LABELS[i] for i in constrained_tags(probs, LABELS, bio_transitions(LABELS))]
    assert tags[0] == "B-PERS" and tags[1] in ("I-PERS", "B-LOC")


def entity(text, doc, label, occurrence=0, score=0.9):
    from kashif.model.types import Entity

    start = -1
    for _ in range(occurrence + 1):
        start = doc.index(text, start + 1)
    return Entity(text, label, start, start + len(text), score)


def test_document_majority_type_wins():
    from kashif.model.decoding import harmonize_document

    doc = "قال ترمب إن ترمب سيزور المكسيك ثم قال ترمب إنه راض."
    found = [entity("ترمب", doc, "PERS", 0), entity("ترمب", doc, "LOC", 1), entity("المكسيك", doc, "LOC"),
             entity("ترمب", doc, "PERS", 2)]
    out = harmonize_document(found)
    assert [e.label for e in out] == ["PERS", "PERS", "LOC", "PERS"]
    assert all(doc[e.start:e.end] == e.text for e in out)


def test_document_tie_keeps_each_type():
    from kashif.model.decoding import harmonize_document

    doc = "الأهلي فاز على الأهلي"
    found = [entity("الأهلي", doc, "ORG", 0), entity("الأهلي", doc, "LOC", 1)]
    assert [e.label for e in harmonize_document(found)] == ["ORG", "LOC"]


def test_two_known_names_joined_by_waw_are_split():
    from kashif.model.decoding import harmonize_document

    doc = "التقى ماركو روبيو مع خوان رامون دي لا فوينتي. وقال روبيو ودي لا فوينتي إن المحادثات مثمرة."
    found = [entity("ماركو روبيو", doc, "PERS"), entity("خوان رامون دي لا فوينتي", doc, "PERS"),
             entity("روبيو ودي لا فوينتي", doc, "PERS")]
    out = harmonize_document(found)
    assert [(e.text, e.label) for e in out] == [("ماركو روبيو", "PERS"), ("خوان رامون دي لا فوينتي", "PERS"),
                                               ("روبيو", "PERS"), ("دي لا فوينتي", "PERS")]
    assert all(doc[e.start:e.end] == e.text for e in out)


def test_a_name_with_waw_inside_stays_whole():
    from kashif.model.decoding import harmonize_document

    doc = "قال محمد وليد إن محمد وليد سيحضر، وكذلك أحمد."
    found = [entity("محمد وليد", doc, "PERS", 0), entity("محمد وليد", doc, "PERS", 1), entity("أحمد", doc, "PERS")]
    assert harmonize_document(found) == found
