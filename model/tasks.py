"""The task registry: every task Kashif serves, declared once.

A task's `name` is what a model's kashif.json, a bundle's sub-directory, the `--NAME-model` flag (and its
`KASHIF_NAME_MODEL` variable) and `kashif train NAME` say; its `answer` is what its answers are called: the key in
JSON records, the command (`kashif entities`), the route (`/v1/entities`), the scorer's `--tasks`. Everything else
that differs between tasks follows from the entry's fields:

- `head`: the model class (`AutoModelFor...`), the architecture a config.json must name, the `transformers.pipeline`
  task, and the training/evaluation data and metrics (token labels or one label per input);
- `inputs`: what one input is, a text or a (text, target) pair encoded as `[CLS] target [SEP] text [SEP]`;
- `result`: the answer's value object (`model.types`);
- `best_metric`, `headline`, `breakdown`: the dev metric that picks the best checkpoint, the metrics kashif.json
  keeps, and the per-label table they are broken down by.

Code loops over `TASKS` or looks a task up with `task_named` / `task_answering`; it does not branch on names.
"""
from __future__ import annotations

from dataclasses import dataclass

from kashif.model.types import Classification, Entity, StanceResult


@dataclass(frozen=True)
class Head:
    """A kind of model output: a label per token, or one label per input sequence."""

    kind: str  # "token" or "sequence"
    architecture_suffix: str  # what config.json's architectures end with
    auto_class: str  # the transformers Auto class that loads it
    pipeline: str  # the transformers.pipeline task that loads it as is


TOKEN = Head("token", "ForTokenClassification", "AutoModelForTokenClassification", "token-classification")
SEQUENCE = Head("sequence", "ForSequenceClassification", "AutoModelForSequenceClassification", "text-classification")

TEXT, PAIR = "text", "pair"  # a task's inputs: one text, or a (text, target) pair
_SEQUENCE_HEADLINE = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "support")


@dataclass(frozen=True)
class Task:
    name: str
    answer: str
    head: Head
    inputs: str  # TEXT or PAIR
    result: type
    description: str  # "named-entity recognition": model cards, help
    best_metric: str
    headline: tuple[str, ...]
    breakdown: str

    @property
    def model_field(self) -> str:
        """The ModelRefs field (and the flag --NAME-model) naming this task's model."""
        return f"{self.name}_model"

    @property
    def model_flag(self) -> str:
        return "--" + self.model_field.replace("_", "-")

    @property
    def model_env(self) -> str:
        return f"KASHIF_{self.name.upper()}_MODEL"

    @property
    def route(self) -> str:
        """Its path under /v1."""
        return "/" + self.answer


TASKS: tuple[Task, ...] = (
    Task("ner", "entities", TOKEN, TEXT, Entity, "named-entity recognition", best_metric="f1",
         headline=("precision", "recall", "f1", "macro_f1", "accuracy", "support"), breakdown="per_type"),
    Task("stance", "stance", SEQUENCE, PAIR, StanceResult, "stance classification", best_metric="macro_f1",
         headline=_SEQUENCE_HEADLINE, breakdown="per_class"),
    Task("classify", "classify", SEQUENCE, TEXT, Classification, "text classification", best_metric="macro_f1",
         headline=_SEQUENCE_HEADLINE, breakdown="per_class"),
)
TASK_NAMES: tuple[str, ...] = tuple(t.name for t in TASKS)
ANSWER_NAMES: tuple[str, ...] = tuple(t.answer for t in TASKS)  # in the order of TASKS

_BY_NAME = {t.name: t for t in TASKS}
_BY_ANSWER = {t.answer: t for t in TASKS}


def task_named(name: str) -> Task:
    """The task called `name` (`ner`, `stance`, `classify`); ValueError naming the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r} (one of {', '.join(TASK_NAMES)})") from None


def task_answering(answer_name: str) -> Task:
    """The task whose answers are called `answer_name` (`entities` → ner)."""
    try:
        return _BY_ANSWER[answer_name]
    except KeyError:
        raise ValueError(f"unknown answer {answer_name!r} (one of {', '.join(ANSWER_NAMES)})") from None


def answer_of_task(task: str) -> str:
    """`ner` → `entities`, `stance` → `stance`, `classify` → `classify`."""
    return task_named(task).answer


def task_of_answer(answer_name: str) -> str:
    """`entities` → `ner`, and so on."""
    return task_answering(answer_name).name


def task_of_architectures(architectures: list[str] | None) -> str | None:
    """The task a plain model plays when nothing names its role: the first registered task with its head
    (a sequence classifier is a stance model unless `--classify-model` or its kashif.json says otherwise)."""
    for arch in architectures or []:
        for task in TASKS:
            if arch.endswith(task.head.architecture_suffix):
                return task.name
    return None
