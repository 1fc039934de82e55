"""The Python front door: `kashif.load()`, like `spacy.load` or `transformers.pipeline`.

    import kashif

    nlp = kashif.load()                                   # the bundled model (NER + stance)
    nlp.entities("زار الرئيس محمد القاهرة.")              # [Entity(text='محمد', label='PERS', ...), ...]
    nlp.stance("الحكومة تعلن خفض الضرائب", target="الضرائب")  # StanceResult(label='disagree', scores={...}, ...)
    clf = kashif.load(classify_model="runs/sentiment")    # any single-text sequence classifier
    clf.classify(["نص أول", "نص ثان"], format="hf")        # [[{"label", "score"}], ...]

Each call takes one text (and gives one answer) or a list of texts (and gives a list, in order). With no `format`
the answers are the value objects of `model.types`; with a format they are the JSON shapes the CLI prints and the
server answers (`model.answer_formats`).
"""
from __future__ import annotations

from typing import Any, Collection, Sequence

from kashif.model.answer_formats import answer_classification, filter_entities, shape_entities
from kashif.model.predictor import ModelRefs, Predictor, PredictorConfig
from kashif.model.settings import from_env
from kashif.model.tasks import TASK_NAMES


class Kashif:
    """A loaded `Predictor` with one method per task, for one text or a list of texts."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.predictor.tasks

    def labels(self, task: str) -> list[str]:
        return self.predictor.labels(task)

    def info(self) -> dict[str, dict]:
        return self.predictor.info()

    def entities(self, text: str | Sequence[str], format: str | None = None, labels: Collection[str] | None = None,
                 min_score: float | None = None) -> Any:
        """Entities of a text (a list of `Entity`), or of each text of a list. `format` "kashif", "hf" or
        "displacy" gives the server's answer shapes; `labels` and `min_score` filter as in `/v1/entities`."""
        texts, single = _texts(text)
        found = [filter_entities(ents, labels, min_score) for ents in self.predictor.entities(texts)]
        answers = found if format is None else [shape_entities(t, ents, format) for t, ents in zip(texts, found)]
        return answers[0] if single else answers

    def stance(self, text: str | Sequence[str], target: str | None = None, format: str | None = None) -> Any:
        """Stance of a text toward `target` (a `StanceResult`), or of each text of a list toward it. `format`
        "kashif" gives the server's `{"label", "scores", "truncated"}`."""
        if format not in (None, "kashif"):
            raise ValueError(f"unknown answer format {format!r} for stance (kashif)")
        texts, single = _texts(text)
        results = self.predictor.stance([(t, target) for t in texts])
        answers = results if format is None else [r.to_dict() for r in results]
        return answers[0] if single else answers

    def classify(self, text: str | Sequence[str], format: str | None = None, top_k: int | None = None) -> Any:
        """The label of a text (a `Classification`), or of each text of a list. `format` "kashif" or "hf" (the
        `text-classification` pipeline's `[{"label", "score"}]`) gives the server's shapes, with the `top_k` best."""
        texts, single = _texts(text)
        results = self.predictor.classify(texts)
        answers = results if format is None else [answer_classification(r, format, top_k) for r in results]
        return answers[0] if single else answers


def _texts(text: str | Sequence[str]) -> tuple[list[str], bool]:
    if isinstance(text, str):
        return [text], True
    texts = list(text)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text {i} is {type(t).__name__}, not str")
    return texts, False


def load(model: str | None = None, *, tasks: Sequence[str] = TASK_NAMES, config: PredictorConfig | None = None,
         **options: Any) -> Kashif:
    """Load models the way the CLI's flags do: `model` a bundle directory, `ner_model=` / `stance_model=` /
    `classify_model=` a directory or hub id per task; nothing named → the bundled model. Other keyword arguments are
    `PredictorConfig` settings (`device="cuda"`, `precision="fp32"`, ...) over the `KASHIF_*` environment."""
    ref_fields = set(ModelRefs.__dataclass_fields__) - {"model"}
    refs = {k: options.pop(k) for k in list(options) if k in ref_fields}
    if config is not None and options:
        raise TypeError(f"give settings either in config= or as keywords, not both (got {', '.join(sorted(options))})")
    config = config or from_env(PredictorConfig, **options)
    return Kashif(Predictor.from_refs(model, config, tasks, **refs))
