"""The task registry: each task declared once, and everything else derived from its entry."""
from __future__ import annotations

import pytest

from kashif.model.metadata import ModelMetadata
from kashif.model.tasks import (
    ANSWER_NAMES,
    PAIR,
    SEQUENCE,
    TASK_NAMES,
    TASKS,
    TEXT,
    TOKEN,
    answer_of_task,
    task_named,
    task_of_answer,
    task_of_architectures,
)
from kashif.model.types import Classification, Entity, StanceResult


def test_each_task_has_one_answer_name_and_back():
    assert TASK_NAMES == ("ner", "stance", "classify") and ANSWER_NAMES == ("entities", "stance", "classify")
    assert [answer_of_task(t) for t in TASK_NAMES] == list(ANSWER_NAMES)
    assert [task_of_answer(a) for a in ANSWER_NAMES] == list(TASK_NAMES)


def test_an_entry_says_everything_that_differs_between_tasks():
    ner, stance, classify = TASKS
    assert (ner.head, ner.inputs, ner.result, ner.best_metric, ner.breakdown) == (TOKEN, TEXT, Entity, "f1", "per_type")
    assert (stance.head, stance.inputs, stance.result) == (SEQUENCE, PAIR, StanceResult)
    assert (classify.head, classify.inputs, classify.result, classify.best_metric) == (SEQUENCE, TEXT, Classification, "macro_f1")
    assert [t.model_flag for t in TASKS] == ["--ner-model", "--stance-model", "--classify-model"]
    assert [t.model_env for t in TASKS] == ["KASHIF_NER_MODEL", "KASHIF_STANCE_MODEL", "KASHIF_CLASSIFY_MODEL"]
    assert [t.route for t in TASKS] == ["/entities", "/stance", "/classify"]
    assert SEQUENCE.pipeline == "text-classification" and TOKEN.auto_class == "AutoModelForTokenClassification"


def test_a_plain_sequence_classifier_is_stance_unless_named_otherwise():
    assert task_of_architectures(["BertForTokenClassification"]) == "ner"
    assert task_of_architectures(["BertForSequenceClassification"]) == "stance"  # as before the registry
    assert task_of_architectures(["BertForMaskedLM"]) is None


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown answer 'ner'"):
        task_of_answer("ner")
    with pytest.raises(ValueError, match="unknown task 'entities' \\(one of ner, stance, classify\\)"):
        answer_of_task("entities")
    assert task_named("classify").answer == "classify"


def test_a_model_declares_one_of_the_tasks():
    with pytest.raises(ValueError, match="task must be one of ner, stance, classify"):
        ModelMetadata.from_dict({"task": "entities", "labels": ["O"]})
