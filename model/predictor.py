"""The one predictor behind the CLI, the server, the batch scorer, the evaluator and `kashif.load()`.

It holds a model per task (`model.tasks.TASKS`) and runs each by its head:

- token tasks (entities): documents → sentences → words (character spans of the original text) → word pieces →
  windows of at most the model's length, overlapping when a sentence is too long → length-bucketed, dynamically
  padded batches → word labels → BIO-repaired entity spans with offsets into the original document;
- sequence tasks (stance, classify): a text, or a (text, target) pair, → one label and a score per label.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from kashif.model.backends import BACKEND_CHOICES, PRECISION_CHOICES, Backend, make_backend
from kashif.model.decoding import (
    NER_DECODINGS,
    SUBWORD_STRATEGIES,
    bio_spans,
    bio_transitions,
    class_result,
    constrained_tags,
    harmonize_document,
    pool_word_probs,
    sigmoid,
    softmax,
)
from kashif.model.encoding import encode_stance_pairs, encode_words
from kashif.model.identity import model_identity
from kashif.model.loading import LoadedModel, load_model, resolve_model_refs
from kashif.model.settings import from_env, setting
from kashif.model.tasks import PAIR, TASK_NAMES, TASKS, TOKEN, task_named
from kashif.model.text import Span, sentence_words
from kashif.model.types import Classification, Entity, StanceResult

PIECE_CACHE_SIZE = 200_000  # words; the cache starts afresh when full


MODEL = "model"  # the flags' group in --help


def _references(self) -> dict[str, str | None]:
    """`model=` and each `NAME_model=`, as `resolve_model_refs` and `Predictor.from_refs` take them."""
    return {"model": self.model, **{t.model_field: getattr(self, t.model_field) for t in TASKS}}


def _resolve(self) -> dict[str, str]:
    """Task name → the directory or hub id that serves it (see `model.loading.resolve_model_refs`)."""
    return resolve_model_refs(**self.references())


# Which models to load: `model` (a bundle) and one field per task of the registry (`ner_model`, `stance_model`, ...,
# each a --NAME-model flag with its KASHIF_NAME_MODEL variable); None everywhere → the bundled model.
ModelRefs = make_dataclass(
    "ModelRefs",
    [("model", "str | None", setting(None, "bundle directory holding " + ", ".join(f"{t}/" for t in TASK_NAMES)
                                     + " model directories; default: the bundled model", env="KASHIF_MODEL", group=MODEL))]
    + [(t.model_field, "str | None", setting(None, f"{t.description} model: a directory or a hub id", env=t.model_env,
                                             group=MODEL)) for t in TASKS],
    namespace={"references": _references, "resolve": _resolve,
               "__doc__": "Which models to load (see `resolve_model_refs`); None everywhere → the bundled model."},
)
ModelRefs.__module__ = __name__  # picklable, as the scorer's workers and the server's child process need


@dataclass
class PredictorConfig:
    """How the predictor runs. Built in code with `from_env(PredictorConfig)` (what `Predictor` does when given no
    config), it takes the same `KASHIF_*` variables as the flags."""

    device: str = setting("cpu", "cpu, cuda or cuda:N", env="KASHIF_DEVICE", group=MODEL)
    backend: str = setting("auto", "inference backend; auto: chosen with the precision", env="KASHIF_BACKEND",
                           choices=BACKEND_CHOICES, group=MODEL)
    precision: str = setting("auto", "auto: bf16 where the CPU has it natively, else int8 that passed its check against "
                             "fp32, else fp32", env="KASHIF_PRECISION", choices=PRECISION_CHOICES, group=MODEL)
    # how auto decides: model.backends.selection
    batch_size: int = setting(32, "sentences (or pairs) per batch", env="KASHIF_BATCH_SIZE", group=MODEL)
    max_batch_tokens: int = setting(8192, "padded tokens per batch", env="KASHIF_MAX_BATCH_TOKENS", group=MODEL)
    # None keeps the runtime's own default; torch and ONNX Runtime both get this number
    threads: int | None = setting(None, "torch and ONNX Runtime threads", env="KASHIF_THREADS", group=MODEL)
    subword_strategy: str = setting("first", "how a word's label comes from its pieces", env="KASHIF_SUBWORD_STRATEGY",
                                    choices=SUBWORD_STRATEGIES, group=MODEL)
    ner_decoding: str = setting("constrained", "word labels: the best valid BIO sequence (constrained) or each word's "
                                "most probable label (argmax)", env="KASHIF_NER_DECODING", choices=NER_DECODINGS,
                                group=MODEL)
    document_context: bool = setting(True, "harmonise the mentions of one document: a surface form takes its majority "
                                     "type, and 'X وY' splits where X and Y are names the document also mentions",
                                     env="KASHIF_DOCUMENT_CONTEXT", group=MODEL)
    multi_label_threshold: float = setting(0.5, "multi-label classifiers (sigmoid scores): a text has every label "
                                           "scoring at least this", env="KASHIF_MULTI_LABEL_THRESHOLD", group=MODEL)
    max_length: int | None = None  # cap below the model's own window, e.g. to test windowing
    window_overlap: int = 64  # pieces shared by consecutive windows of a long sentence

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_batch_tokens < 1:
            raise ValueError("batch_size and max_batch_tokens must be positive")
        if not 0.0 <= self.multi_label_threshold <= 1.0:
            raise ValueError(f"multi_label_threshold must be between 0 and 1, got {self.multi_label_threshold}")


@dataclass
class _Window:
    """One model input: a run of words of one sentence."""

    doc: int
    sentence: int
    first_word: int  # index into the sentence's words
    piece_ids: list[int]
    word_piece_ranges: list[tuple[int, int]]  # per word of the window, [start, end) in piece_ids (+1 for [CLS])
    owned: list[int] = field(default_factory=list)  # sentence word indices whose labels come from this window


def batches_by_length(lengths: Sequence[int], batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, bounded by count and padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = lengths[i]  # sorted ascending: the newcomer is the longest
        if current and (len(current) >= batch_size or (len(current) + 1) * longest > max_batch_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class TaskMethods:
    """The answer-named calls (`entities`, `stance`, `classify`) over `run(task, items)`; shared by the Predictor and
    whatever stands in for it (the server's `PredictorProcess`)."""

    def run(self, task: str, items: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Entities of each document, in input order."""
        return self.run("ner", texts)

    def stance(self, items: Sequence[tuple[str, str | None]]) -> list[StanceResult]:
        """Stance of each (text, target) pair, in input order. Texts longer than the model's window are cut at the
        end (the target is kept whole) and flagged `truncated`."""
        return self.run("stance", items)

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        """The label of each text, in input order (a text longer than the window is cut and flagged `truncated`)."""
        return self.run("classify", texts)


class Predictor(TaskMethods):
    """A model per task, run through one interface: `run(task, items)`, or the answer-named methods `entities`,
    `stance` and `classify`. Not for concurrent calls from several threads (it keeps a word-piece cache): give each
    thread or process its own, as the server and the scorer do."""

    def __init__(self, models: Mapping[str, LoadedModel] | None = None, config: PredictorConfig | None = None,
                 **by_task: LoadedModel | None) -> None:
        chosen = {**(models or {}), **by_task}
        for name in chosen:
            task_named(name)  # ValueError for a name outside the registry
        self.models: dict[str, LoadedModel] = {t: chosen[t] for t in TASK_NAMES if chosen.get(t) is not None}
        if not self.models:
            raise ValueError("a predictor needs at least one model")
        self.config = config or from_env(PredictorConfig)
        if self.config.threads:
            import torch

            torch.set_num_threads(self.config.threads)
        self._piece_cache: dict[str, dict[str, list[int]]] = {}  # task → raw word → piece ids
        self._backends: dict[str, Backend] = {
            task: make_backend(loaded, self.config.backend, self.config.precision, self.config.device, self.config.threads)
            for task, loaded in self.models.items()
        }
        token_tasks = [task for task in self.models if task_named(task).head == TOKEN]
        self._o_index = {task: _o_index(self.models[task].labels) for task in token_tasks}
        self._transitions = {task: bio_transitions(self.models[task].labels) for task in token_tasks}

    @classmethod
    def from_refs(cls, model: str | None = None, config: PredictorConfig | None = None, tasks: Iterable[str] = TASK_NAMES,
                  **task_models: str | None) -> "Predictor":
        """Load the models that `model` (a bundle) and `NAME_model=` name (see `resolve_model_refs`), for `tasks`."""
        config = config or from_env(PredictorConfig)
        tasks = tuple(tasks)
        refs = resolve_model_refs(model, **task_models)
        loaded = {task: load_model(ref, task=task, device=config.device) for task, ref in refs.items() if task in tasks}
        if not loaded:
            flags = " or ".join(task_named(t).model_flag for t in tasks)
            raise ValueError(f"none of the named models serves the tasks {', '.join(tasks)}; name one with {flags}")
        return cls(loaded, config)

    # ---- information -------------------------------------------------
    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks this predictor serves, in registry order."""
        return tuple(self.models)

    def labels(self, task: str) -> list[str]:
        """The label set of the model serving `task` ([] when none does)."""
        loaded = self.models.get(task)
        return loaded.labels if loaded else []

    def info(self) -> dict[str, dict]:
        out = {}
        for task, loaded in self.models.items():
            identity = model_identity(loaded.source)
            out[task] = {
                "name": identity.name,
                "digest": identity.digest,
                "source": loaded.source,
                "task": task,
                "labels": loaded.labels,
                "multi_label": loaded.multi_label,
                "max_length": self._max_length(loaded),
                "backend": self.backend(task).name,
                "precision": self.backend(task).precision,
                "reason": self.backend(task).reason,
                "device": self.config.device,
                "normalization": loaded.metadata.normalization.to_dict(),
                "metrics": loaded.metadata.metrics,
            }
        return out

    def backend(self, task: str) -> Backend:
        """What runs `task`: its name, precision and, per kind, its model or ONNX file."""
        if task not in self._backends:
            raise ValueError(f"no {task} model is loaded")
        return self._backends[task]

    def use_backend(self, task: str, backend: Backend) -> None:
        """Run `task` on `backend` from now on (e.g. an int8 variant a benchmark built, not the one `auto` picks)."""
        self.backend(task)  # ValueError when no model serves the task
        self._backends[task] = backend

    def _max_length(self, loaded: LoadedModel) -> int:
        limit = loaded.metadata.max_length
        return min(limit, self.config.max_length) if self.config.max_length else limit

    def _model(self, task: str) -> LoadedModel:
        if task not in self.models:
            raise ValueError(f"no {task} model is loaded")
        return self.models[task]

    # ---- the one entry point -----------------------------------------
    def run(self, task: str, items: Sequence[Any]) -> list[Any]:
        """The answers of `task` for `items`, in input order: texts for a text task, (text, target) pairs for a
        pair task; a list of `Entity` per text for a token task, a `Classification` per item for the others."""
        spec = task_named(task)
        self._model(task)
        if spec.head == TOKEN:
            return self._entities(task, items)
        pairs = list(items) if spec.inputs == PAIR else [(text, None) for text in items]
        return self._classify(task, pairs, spec.result)

    # ---- entities ----------------------------------------------------
    def _entities(self, task: str, texts: Sequence[str]) -> list[list[Entity]]:
        texts = list(texts)
        sentences: list[tuple[int, list[Span]]] = []  # (doc, word spans)
        for d, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"document {d} is {type(text).__name__}, not str")
            sentences.extend((d, words) for words in sentence_words(text))
        loaded = self.models[task]
        labels = loaded.labels
        o_index = self._o_index[task]
        word_probs = self._sentence_word_probs(task, texts, sentences)
        results: list[list[Entity]] = [[] for _ in texts]
        for (d, words), probs in zip(sentences, word_probs):
            best = probs.argmax(axis=1)
            if not (best != o_index).any():
                continue  # no entity in this sentence (all-O is then also the best valid sequence)
            text = texts[d]
            if self.config.ner_decoding == "constrained":
                best = np.asarray(constrained_tags(probs, labels, self._transitions[task]))
            tags = [labels[i] for i in best]
            scores = probs[np.arange(len(best)), best].tolist()
            for span in bio_spans(tags, scores):
                start, end = words[span.first][0], words[span.last][1]
                results[d].append(Entity(text=text[start:end], label=span.label, start=start, end=end, score=round(span.score, 4)))
        if self.config.document_context:
            results = [harmonize_document(found) for found in results]
        return results

    def _word_pieces(self, task: str, raw_words: list[str]) -> list[list[int]]:
        """Piece ids of each word (`encode_words`), cached: a word's pieces do not depend on its neighbours."""
        loaded = self.models[task]
        cache = self._piece_cache.setdefault(task, {})
        new = list(dict.fromkeys(w for w in raw_words if w not in cache))
        if new:
            if len(cache) + len(new) > PIECE_CACHE_SIZE:
                cache.clear()
            cache.update(zip(new, encode_words(loaded.tokenizer, new, loaded.metadata.normalization)))
        return [cache[w] for w in raw_words]

    def _sentence_word_probs(self, task: str, texts: list[str], sentences: list[tuple[int, list[Span]]]) -> list[np.ndarray]:
        loaded = self.models[task]
        tokenizer = loaded.tokenizer
        n_labels = len(loaded.labels)
        max_pieces = self._max_length(loaded) - 2
        overlap = min(self.config.window_overlap, max_pieces // 2)

        windows: list[_Window] = []
        for k, (d, words) in enumerate(sentences):
            text = texts[d]
            pieces = self._word_pieces(task, [text[s:e] for s, e in words])
            windows.extend(self._windows(d, k, pieces, max_pieces, overlap))

        probs = [np.zeros((len(words), n_labels), dtype=np.float32) for _, words in sentences]
        o_index = self._o_index[task]
        self._run_batches(
            task,
            [[tokenizer.cls_token_id, *w.piece_ids, tokenizer.sep_token_id] for w in windows],
            tokenizer.pad_token_id,
            lambda i, piece_probs: self._scatter_window(windows[i], piece_probs, probs, o_index),
        )
        return probs

    @staticmethod
    def _windows(doc: int, sentence: int, pieces: list[list[int]], max_pieces: int, overlap: int) -> list[_Window]:
        """Split one sentence's words into windows of at most `max_pieces` pieces.
        Each word takes its labels from the window where it has most context."""
        n = len(pieces)
        counts = [min(len(p), max_pieces) for p in pieces]
        if sum(counts) <= max_pieces:  # the usual case: the sentence fits in one window
            ids: list[int] = []
            ranges = []
            for p in pieces:
                ranges.append((len(ids) + 1, len(ids) + 1 + min(len(p), max_pieces)))
                ids.extend(p[:max_pieces])  # one word longer than a window keeps its first pieces
            return [_Window(doc, sentence, 0, ids, ranges, list(range(n)))]
        bounds: list[tuple[int, int]] = []
        a = 0
        while a < n:
            b, used = a, 0
            while b < n and used + counts[b] <= max_pieces:
                used += counts[b]
                b += 1
            b = max(b, a + 1)
            bounds.append((a, b))
            if b >= n:
                break
            back, shared = b, 0
            while back - 1 > a and shared + counts[back - 1] <= overlap:
                back -= 1
                shared += counts[back]
            a = back
        windows = []
        for a, b in bounds:
            ids: list[int] = []
            ranges = []
            for w in range(a, b):
                start = len(ids) + 1
                ids.extend(pieces[w][:max_pieces])
                ranges.append((start, len(ids) + 1))
            windows.append(_Window(doc, sentence, a, ids, ranges))
        for w in range(n):
            best, best_context = 0, -1.0
            for i, (a, b) in enumerate(bounds):
                if a <= w < b:
                    left = math.inf if a == 0 else w - a
                    right = math.inf if b == n else b - 1 - w
                    if min(left, right) > best_context:
                        best, best_context = i, min(left, right)
            windows[best].owned.append(w)
        return windows

    def _scatter_window(self, window: _Window, piece_probs: np.ndarray, probs: list[np.ndarray], o_index: int) -> None:
        strategy = self.config.subword_strategy
        out = probs[window.sentence]
        ranges = window.word_piece_ranges
        if strategy == "first" and all(ranges[w - window.first_word][1] > ranges[w - window.first_word][0] for w in window.owned):
            out[window.owned] = piece_probs[[ranges[w - window.first_word][0] for w in window.owned]]
            return
        for w in window.owned:
            start, end = ranges[w - window.first_word]
            if end > start:
                out[w] = pool_word_probs(piece_probs[start:end], strategy)
            else:  # a word the tokenizer turned into no piece at all
                out[w, o_index] = 1.0

    def _run_batches(self, task: str, sequences: list[list[int]], pad_id: int, consume, type_ids: list[list[int]] | None = None) -> None:
        """Run sequences through a task's backend in length-bucketed batches;
        `consume(i, probs_i)` receives each sequence's unpadded label probabilities."""
        backend = self._backends[task]
        loaded = self.models[task]
        uses_type_ids = "token_type_ids" in loaded.tokenizer.model_input_names
        activation = sigmoid if loaded.multi_label else softmax
        lengths = [len(s) for s in sequences]
        for batch in batches_by_length(lengths, self.config.batch_size, self.config.max_batch_tokens):
            width = max(lengths[i] for i in batch)
            input_ids = np.full((len(batch), width), pad_id, dtype=np.int64)
            attention = np.zeros((len(batch), width), dtype=np.int64)
            token_types = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                input_ids[row, : lengths[i]] = sequences[i]
                attention[row, : lengths[i]] = 1
                if type_ids is not None:
                    token_types[row, : lengths[i]] = type_ids[i]
            inputs = {"input_ids": input_ids, "attention_mask": attention}
            if uses_type_ids:
                inputs["token_type_ids"] = token_types
            probs = activation(backend(inputs))
            for row, i in enumerate(batch):
                consume(i, probs[row, : lengths[i]] if probs.ndim == 3 else probs[row])

    def _classify(self, task: str, items: list[tuple[str, str | None]], result: type) -> list[Classification]:
        """One `result` per (text, target) pair (target None: the text alone), in input order."""
        if not items:
            return []
        loaded = self.models[task]
        texts = [text for text, _ in items]
        targets = [target for _, target in items]
        encoded = encode_stance_pairs(loaded.tokenizer, texts, targets, self._max_length(loaded), loaded.metadata.normalization)
        labels = loaded.labels
        threshold = self.config.multi_label_threshold if loaded.multi_label else None
        results: list[Classification | None] = [None] * len(items)

        def consume(i: int, p: np.ndarray) -> None:
            results[i] = class_result(p, labels, result, encoded["truncated"][i], threshold)

        type_ids = encoded.get("token_type_ids")
        self._run_batches(task, encoded["input_ids"], loaded.tokenizer.pad_token_id, consume, type_ids=type_ids)
        return results  # type: ignore[return-value]


def _o_index(labels: Sequence[str]) -> int:
    """Where the outside label `O` is (0 when the label set has none)."""
    return list(labels).index("O") if "O" in labels else 0

