"""The one task vocabulary: model task names and the names their answers go by."""
from __future__ import annotations

import pytest

from kashif.model.metadata import ModelMetadata
from kashif.model.tasks import ANSWER_NAMES, TASKS, answer_of_task, task_of_answer


def test_each_task_has_one_answer_name_and_back():
    assert TASKS == ("ner", "stance") and ANSWER_NAMES == ("entities", "stance")
    assert [answer_of_task(t) for t in TASKS] == list(ANSWER_NAMES)
    assert [task_of_answer(a) for a in ANSWER_NAMES] == list(TASKS)


def test_unknown_names_are_refused():
    with pytest.raises(KeyError):
        task_of_answer("ner")
    with pytest.raises(KeyError):
        answer_of_task("entities")


def test_a_model_declares_one_of_the_tasks():
    with pytest.raises(ValueError, match="task must be one of ner, stance"):
        ModelMetadata.from_dict({"task": "entities", "labels": ["O"]})
