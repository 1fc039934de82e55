"""The one predictor behind the CLI, the server, the batch scorer and the evaluator.

Entities: documents → sentences → words (character spans of the original
text) → word pieces → windows of at most the model's length, overlapping when
a sentence is too long → length-bucketed, dynamically padded batches → word
labels → BIO-repaired entity spans with offsets into the original document.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from kashif.model.backends import BACKEND_CHOICES, PRECISION_CHOICES, Backend, make_backend
from kashif.model.decoding import (
    NER_DECODINGS,
    SUBWORD_STRATEGIES,
    bio_spans,
    bio_transitions,
    constrained_tags,
    pool_word_probs,
    softmax,
    harmonize_document,
)
from kashif.model.encoding import encode_stance_pairs
from kashif.model.identity import model_identity
from kashif.model.loading import LoadedModel, load_model, resolve_model_refs
from kashif.model.settings import from_env, setting
from kashif.model.tasks import TASKS
from kashif.model.text import Span, normalize_word, sentence_words
from kashif.model.types import Entity, StanceResult

PIECE_CACHE_SIZE = 200_000  # words; the cache starts afresh when full


MODEL = "model"  # the flags' group in --help


@dataclass
class ModelRefs:
    """Which models to load (see `resolve_model_refs`); None everywhere → the bundled model."""

    model: str | None = setting(None, "bundle directory holding ner/ and/or stance/; default: the bundled model", env="KASHIF_MODEL", group=MODEL)
    ner_model: str | None = setting(None, "NER model: a directory or a hub id", env="KASHIF_NER_MODEL", group=MODEL)
    stance_model: str | None = setting(None, "stance model: a directory or a hub id", env="KASHIF_STANCE_MODEL", group=MODEL)


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
    max_length: int | None = None  # cap below the model's own window, e.g. to test windowing
    window_overlap: int = 64  # pieces shared by consecutive windows of a long sentence

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_batch_tokens < 1:
            raise ValueError("batch_size and max_batch_tokens must be positive")


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


class Predictor:
    """Not for concurrent calls from several threads (it keeps a word-piece cache):
    give each thread or process its own, as the server and the scorer do."""

    def __init__(self, ner: LoadedModel | None = None, stance: LoadedModel | None = None, config: PredictorConfig | None = None) -> None:
        if ner is None and stance is None:
            raise ValueError("a predictor needs at least one model")
        self.config = config or from_env(PredictorConfig)
        if self.config.threads:
            import torch

            torch.set_num_threads(self.config.threads)
        self.ner = ner
        self.stance_model = stance
        self._o_index = ner.labels.index("O") if ner is not None and "O" in ner.labels else 0
        self._transitions = bio_transitions(ner.labels) if ner is not None else None
        self._piece_cache: dict[str, list[int]] = {}  # raw word → NER piece ids
        self._backends: dict[str, Backend] = {}
        for task, loaded in (("ner", ner), ("stance", stance)):
            if loaded is not None:
                self._backends[task] = make_backend(loaded, self.config.backend, self.config.precision, self.config.device, self.config.threads)

    @classmethod
    def from_refs(
        cls,
        model: str | None = None,
        ner_model: str | None = None,
        stance_model: str | None = None,
        config: PredictorConfig | None = None,
        tasks: Iterable[str] = TASKS,
    ) -> "Predictor":
        config = config or from_env(PredictorConfig)
        refs = resolve_model_refs(model, ner_model, stance_model)
        loaded = {task: load_model(ref, task=task, device=config.device) for task, ref in refs.items() if task in tasks}
        if not loaded:
            raise ValueError(f"none of the named models serves the tasks {', '.join(tasks)}")
        return cls(ner=loaded.get("ner"), stance=loaded.get("stance"), config=config)

    # ---- information -------------------------------------------------
    @property
    def ner_labels(self) -> list[str]:
        return self.ner.labels if self.ner else []

    @property
    def stance_labels(self) -> list[str]:
        return self.stance_model.labels if self.stance_model else []

    def info(self) -> dict[str, dict]:
        out = {}
        for task, loaded in (("ner", self.ner), ("stance", self.stance_model)):
            if loaded is not None:
                identity = model_identity(loaded.source)
                out[task] = {
                    "name": identity.name,
                    "digest": identity.digest,
                    "source": loaded.source,
                    "task": task,
                    "labels": loaded.labels,
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
        """What runs `task` ("ner" or "stance"): its name, precision and, per kind, its model or ONNX file."""
        if task not in self._backends:
            raise ValueError(f"no {task} model is loaded")
        return self._backends[task]

    def _max_length(self, loaded: LoadedModel) -> int:
        limit = loaded.metadata.max_length
        return min(limit, self.config.max_length) if self.config.max_length else limit

    # ---- entities ----------------------------------------------------
    def entities(self, texts: Sequence[str]) -> list[list[Entity]]:
        """Entities of each document, in input order."""
        if self.ner is None:
            raise ValueError("no NER model is loaded")
        texts = list(texts)
        sentences: list[tuple[int, list[Span]]] = []  # (doc, word spans)
        for d, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"document {d} is {type(text).__name__}, not str")
            sentences.extend((d, words) for words in sentence_words(text))
        word_probs = self._sentence_word_probs(texts, sentences)
        results: list[list[Entity]] = [[] for _ in texts]
        labels = self.ner.labels
        for (d, words), probs in zip(sentences, word_probs):
            best = probs.argmax(axis=1)
            if not (best != self._o_index).any():
                continue  # no entity in this sentence (all-O is then also the best valid sequence)
            text = texts[d]
            if self.config.ner_decoding == "constrained":
                best = np.asarray(constrained_tags(probs, labels, self._transitions))
            tags = [labels[i] for i in best]
            scores = probs[np.arange(len(best)), best].tolist()
            for span in bio_spans(tags, scores):
                start, end = words[span.first][0], words[span.last][1]
                results[d].append(Entity(text=text[start:end], label=span.label, start=start, end=end, score=round(span.score, 4)))
        if self.config.document_context:
            results = [harmonize_document(found) for found in results]
        return results

    def _word_pieces(self, raw_words: list[str]) -> list[list[int]]:
        """Piece ids of each word, as the model's tokenizer splits it (after the
        model's normalisation). Words are tokenised one by one (`is_split_into_words`),
        so a word's pieces do not depend on its neighbours and are cached."""
        cache = self._piece_cache
        new = list(dict.fromkeys(w for w in raw_words if w not in cache))
        if new:
            if len(cache) + len(new) > PIECE_CACHE_SIZE:
                cache.clear()
            normalization = self.ner.metadata.normalization
            unknown = self.ner.tokenizer.unk_token or "[UNK]"  # a word that normalises to nothing
            forms = [[normalize_word(w, normalization) or unknown] for w in new]
            encoded = self.ner.tokenizer(forms, is_split_into_words=True, add_special_tokens=False)["input_ids"]
            cache.update(zip(new, encoded))
        return [cache[w] for w in raw_words]

    def _sentence_word_probs(self, texts: list[str], sentences: list[tuple[int, list[Span]]]) -> list[np.ndarray]:
        loaded = self.ner
        tokenizer = loaded.tokenizer
        n_labels = len(loaded.labels)
        max_pieces = self._max_length(loaded) - 2
        overlap = min(self.config.window_overlap, max_pieces // 2)

        windows: list[_Window] = []
        for k, (d, words) in enumerate(sentences):
            text = texts[d]
            pieces = self._word_pieces([text[s:e] for s, e in words])
            windows.extend(self._windows(d, k, pieces, max_pieces, overlap))

        probs = [np.zeros((len(words), n_labels), dtype=np.float32) for _, words in sentences]
        self._run_batches(
            "ner",
            [[tokenizer.cls_token_id, *w.piece_ids, tokenizer.sep_token_id] for w in windows],
            tokenizer.pad_token_id,
            lambda i, piece_probs: self._scatter_window(windows[i], piece_probs, probs),
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

    def _scatter_window(self, window: _Window, piece_probs: np.ndarray, probs: list[np.ndarray]) -> None:
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
                out[w, self._o_index] = 1.0

    def _run_batches(self, task: str, sequences: list[list[int]], pad_id: int, consume, type_ids: list[list[int]] | None = None) -> None:
        """Run sequences through a task's backend in length-bucketed batches;
        `consume(i, probs_i)` receives each sequence's unpadded label probabilities."""
        backend = self._backends[task]
        uses_type_ids = "token_type_ids" in self._loaded(task).tokenizer.model_input_names
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
            probs = softmax(backend(inputs))
            for row, i in enumerate(batch):
                consume(i, probs[row, : lengths[i]] if probs.ndim == 3 else probs[row])

    def _loaded(self, task: str) -> LoadedModel:
        return self.ner if task == "ner" else self.stance_model

    # ---- stance ------------------------------------------------------
    def stance(self, items: Sequence[tuple[str, str | None]]) -> list[StanceResult]:
        """Stance of each (text, target) pair, in input order. Texts longer than
        the model's window are cut at the end (the target is kept whole) and
        flagged `truncated`."""
        if self.stance_model is None:
            raise ValueError("no stance model is loaded")
        items = list(items)
        if not items:
            return []
        loaded = self.stance_model
        texts = [text for text, _ in items]
        targets = [target for _, target in items]
        encoded = encode_stance_pairs(loaded.tokenizer, texts, targets, self._max_length(loaded), loaded.metadata.normalization)
        labels = loaded.labels
        results: list[StanceResult | None] = [None] * len(items)

        def consume(i: int, p: np.ndarray) -> None:
            results[i] = StanceResult(
                label=labels[int(p.argmax())],
                scores={label: round(float(v), 4) for label, v in zip(labels, p)},
                truncated=encoded["truncated"][i],
            )

        type_ids = encoded.get("token_type_ids")
        self._run_batches("stance", encoded["input_ids"], loaded.tokenizer.pad_token_id, consume, type_ids=type_ids)
        return results  # type: ignore[return-value]
