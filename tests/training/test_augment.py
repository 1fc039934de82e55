"""Mention replacement: copies keep each sentence's context and entity types, swap the names."""
from __future__ import annotations

from kashif.training.augment import entity_spans, mention_pool, replace_mentions

ROWS = [
    {"tokens": ["زار", "محمد", "بن", "سلمان", "باريس", "أمس"], "tags": ["O", "B-PERS", "I-PERS", "I-PERS", "B-LOC", "O"]},
    {"tokens": ["قالت", "وزارة", "الخارجية", "إن", "سارة", "في", "القاهرة"],
     "tags": ["O", "B-ORG", "I-ORG", "O", "B-PERS", "O", "B-LOC"]},
    {"tokens": ["اجتمع", "أحمد", "مع", "رويترز", "في", "عمان"], "tags": ["O", "B-PERS", "O", "B-ORG", "O", "B-LOC"]},
    {"tokens": ["لا", "كيان", "هنا"], "tags": ["O", "O", "O"]},
]


def test_entity_spans_reads_bio_and_a_stray_inside_tag():
    assert entity_spans(["B-PERS", "I-PERS", "O", "B-LOC", "B-LOC"]) == [(0, 2, "PERS"), (3, 4, "LOC"), (4, 5, "LOC")]
    assert entity_spans(["O", "I-ORG", "I-ORG", "I-LOC"]) == [(1, 3, "ORG"), (3, 4, "LOC")]


def test_copies_swap_every_name_for_another_of_its_type_and_keep_the_context():
    pool = mention_pool(ROWS)
    assert pool["PERS"] == [("محمد", "بن", "سلمان"), ("سارة",), ("أحمد",)]
    copies = replace_mentions(ROWS, copies=2, seed=3)
    assert len(copies) == 6  # the sentence without entities is not copied
    originals = [r for r in ROWS if entity_spans(r["tags"])] * 2
    for original, copy in zip(originals, copies):
        assert len(copy["tokens"]) == len(copy["tags"])
        before, after = entity_spans(original["tags"]), entity_spans(copy["tags"])
        assert [kind for *_, kind in before] == [kind for *_, kind in after]
        for (s0, e0, kind), (s1, e1, _) in zip(before, after):
            name = tuple(copy["tokens"][s1:e1])
            assert name in pool[kind] and name != tuple(original["tokens"][s0:e0])
        # the words outside the entities are the original's, in order
        outside = [t for i, t in enumerate(copy["tokens"]) if copy["tags"][i] == "O"]
        assert outside == [t for i, t in enumerate(original["tokens"]) if original["tags"][i] == "O"]
    assert replace_mentions(ROWS, copies=2, seed=3) == copies
    assert replace_mentions(ROWS, copies=2, seed=4) != copies


def test_a_type_with_one_mention_is_kept():
    rows = [{"tokens": ["في", "عمان"], "tags": ["O", "B-LOC"]}]
    assert replace_mentions(rows, copies=1, seed=0) == rows
