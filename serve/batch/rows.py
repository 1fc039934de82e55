"""Turn input rows into output records with the shared Predictor.

The same functions run in-process, in `--workers` processes and inside Ray
actors, so every engine produces the same records.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from kashif.model.messages import typed_line
from kashif.model.tasks import ANSWER_NAMES, PAIR, TOKEN, task_answering
from kashif.serve.batch.readers import Row, RowError


@dataclass(frozen=True)
class FieldSpec:
    """Where a row's text, id and targets (for a pair task: stance) come from; `tasks` are answer names."""

    text_field: str = "text"
    id_field: str | None = None  # None: the row number (0-based, over all inputs)
    target_field: str | None = None
    targets: tuple[str, ...] = ()  # fixed targets, asked of every row
    tasks: tuple[str, ...] = ANSWER_NAMES
    with_text: bool = False  # records carry the document's text (annotation-tool outputs need it)

    def columns(self) -> list[str]:
        return [c for c in (self.text_field, self.id_field, self.target_field) if c]

    @property
    def asks_targets(self) -> bool:
        """Whether a task of the job takes (text, target) pairs."""
        return any(task_answering(t).inputs == PAIR for t in self.tasks)


@dataclass(frozen=True)
class ModelSpec:
    """Everything a process needs to build its own Predictor (picklable)."""

    refs: dict[str, str | None] = field(default_factory=dict)  # model.predictor.ModelRefs.references()
    config: Any = None  # model.predictor.PredictorConfig
    tasks: tuple[str, ...] = ANSWER_NAMES

    def build(self, threads: int | None = None):
        from dataclasses import replace

        from kashif.model.predictor import Predictor, PredictorConfig

        config = self.config or PredictorConfig()
        if threads is not None:
            config = replace(config, threads=threads)
        return Predictor.from_refs(config=config, tasks=[task_answering(t).name for t in self.tasks], **self.refs)


@dataclass
class Outcome:
    """One row scored (`result`) or refused (`error`); `id` is the id field's
    value, None when ids are row numbers (filled in by `finalize`)."""

    id: Any = None
    result: dict | None = None
    error: str | None = None


@dataclass
class _Prepared:
    index: int
    text: str
    targets: list[str | None] = field(default_factory=list)


def _describe(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def prepare(row: Row, spec: FieldSpec) -> tuple[Any, str | None, list[str | None], str | None]:
    """(id, text, targets, error reason) of one row."""
    if isinstance(row, RowError):
        return None, None, [], row.reason
    row_id = None
    if spec.id_field:
        row_id = row.get(spec.id_field)
        if row_id is None:
            return None, None, [], f"missing id field '{spec.id_field}'"
    if spec.text_field not in row:
        return row_id, None, [], f"missing text field '{spec.text_field}'"
    text = row[spec.text_field]
    if not isinstance(text, str):
        return row_id, None, [], f"text field '{spec.text_field}' is {_describe(text)}, not a string"
    targets: list[str | None] = list(spec.targets)
    if spec.asks_targets and spec.target_field:
        value = row.get(spec.target_field)
        if isinstance(value, str):
            targets.append(value)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            targets.extend(value)
        else:
            return row_id, None, [], f"target field '{spec.target_field}' is {_describe(value)}, not a string or a list of strings"
    if spec.asks_targets and not targets:
        targets = [None]  # stance of the text alone
    return row_id, text, targets, None


def _score(predictor, prepared: list[_Prepared], tasks: Sequence[str], with_text: bool = False) -> list[dict]:
    """Each document's record: per task (answer name), its entities, its label, or its label toward each target."""
    results: list[dict] = [{"text": p.text} if with_text else {} for p in prepared]
    for answer in tasks:
        task = task_answering(answer)
        if task.inputs == PAIR:
            found = iter(predictor.run(task.name, [(p.text, t) for p in prepared for t in p.targets]))
            for res, p in zip(results, prepared):
                res[answer] = [{"target": t, **next(found).to_dict()} for t in p.targets]
            continue
        for res, value in zip(results, predictor.run(task.name, [p.text for p in prepared])):
            res[answer] = [e.to_dict() for e in value] if task.head == TOKEN else value.to_dict()
    return results


def score_rows(predictor, rows: Sequence[Row], spec: FieldSpec) -> list[Outcome]:
    """One outcome per row, in order. A batch the model fails on is retried
    row by row, so one bad document cannot sink its neighbours."""
    outcomes: list[Outcome] = []
    prepared: list[_Prepared] = []
    for i, row in enumerate(rows):
        row_id, text, targets, error = prepare(row, spec)
        outcomes.append(Outcome(id=row_id, error=error))
        if error is None:
            prepared.append(_Prepared(i, text, targets))
    try:
        results = _score(predictor, prepared, spec.tasks, spec.with_text)
    except Exception:  # noqa: BLE001 - isolate the failing row below
        results = []
        for p in prepared:
            try:
                results.append(_score(predictor, [p], spec.tasks, spec.with_text)[0])
            except Exception as err:  # noqa: BLE001
                results.append({"__error__": f"scoring failed: {typed_line(err)}"})
    for p, res in zip(prepared, results):
        if "__error__" in res:
            outcomes[p.index].error = res["__error__"]
        else:
            outcomes[p.index].result = res
    return outcomes


def finalize(outcome: Outcome, row_number: int, spec: FieldSpec) -> tuple[dict | None, dict | None]:
    """(output record, error record) of a row once its row number is known."""
    row_id = outcome.id if spec.id_field else row_number
    if outcome.error is not None:
        return None, {"row": row_number, "id": row_id, "reason": outcome.error}
    return {"id": row_id, **(outcome.result or {})}, None


def entity_counts(records: Sequence[dict]) -> Counter:
    return Counter(e["label"] for r in records for e in r.get("entities", ()))
