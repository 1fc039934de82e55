"""From model outputs to words and entities: subword pooling, BIO repair, span merging."""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from kashif.model.types import Entity

SUBWORD_STRATEGIES = ("first", "mean", "max")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def class_result(probs: np.ndarray, labels: Sequence[str], result: type, truncated: bool = False,
                 threshold: float | None = None):
    """One sequence's label probabilities → `result` (a `Classification`): the best label and every label's score;
    with a `threshold` (multi-label models), also every label scoring at least that, best first."""
    scores = {label: round(float(v), 4) for label, v in zip(labels, probs)}
    chosen = None
    if threshold is not None:
        chosen = tuple(label for label, _ in sorted(scores.items(), key=lambda kv: -kv[1]) if scores[label] >= threshold)
    return result(label=labels[int(probs.argmax())], scores=scores, truncated=truncated, labels=chosen)


def pool_word_probs(piece_probs: np.ndarray, strategy: str = "first") -> np.ndarray:
    """Label probabilities of one word from those of its pieces ([n_pieces, n_labels])."""
    if strategy == "first":
        return piece_probs[0]
    if strategy == "mean":
        return piece_probs.mean(axis=0)
    if strategy == "max":
        return piece_probs[piece_probs.max(axis=1).argmax()]
    raise ValueError(f"unknown subword strategy {strategy!r}; use one of {', '.join(SUBWORD_STRATEGIES)}")


@functools.lru_cache(maxsize=1024)
def split_tag(tag: str) -> tuple[str, str | None]:
    """("B", "PERS") for "B-PERS"; ("O", None) for "O"; a bare type counts as inside."""
    if tag == "O" or not tag:
        return "O", None
    if len(tag) > 2 and tag[1] in "-_" and tag[0] in "BIESLU":
        prefix = {"L": "E", "U": "S"}.get(tag[0], tag[0])
        return prefix, tag[2:]
    return "I", tag


@dataclass(frozen=True)
class WordSpan:
    """A run of words [first, last] tagged with one entity type."""

    first: int
    last: int
    label: str
    score: float


def bio_spans(tags: Sequence[str], scores: Sequence[float]) -> list[WordSpan]:
    """Merge word tags into entity spans, repairing invalid sequences:
    an I-X after O or after another type starts a new X entity."""
    spans: list[WordSpan] = []
    current: tuple[int, str] | None = None  # (first word, type)

    def close(last: int) -> None:
        nonlocal current
        if current is not None:
            first, label = current
            spans.append(WordSpan(first, last, label, sum(scores[first : last + 1]) / (last + 1 - first)))
            current = None

    for i, tag in enumerate(tags):
        prefix, label = split_tag(tag)
        if prefix == "O":
            close(i - 1)
            continue
        continues = current is not None and current[1] == label and prefix in ("I", "E")
        if not continues:
            close(i - 1)
            current = (i, label)
        if prefix in ("E", "S"):
            close(i)
    close(len(tags) - 1)
    return spans


NER_DECODINGS = ("constrained", "argmax")


def bio_transitions(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Log-space start and transition scores that forbid what BIO forbids: an `I-X`
    (or `E-X`) may only follow `B-X`/`I-X` of the same type, and no entity opens with it."""
    n = len(labels)
    parts = [split_tag(label) for label in labels]
    start = np.zeros(n, dtype=np.float32)
    trans = np.zeros((n, n), dtype=np.float32)
    for j, (prefix, kind) in enumerate(parts):
        if prefix not in ("I", "E"):
            continue
        start[j] = -np.inf
        for i, (prev_prefix, prev_kind) in enumerate(parts):
            if prev_kind != kind or prev_prefix not in ("B", "I"):
                trans[i, j] = -np.inf
    return start, trans


def constrained_tags(word_probs: np.ndarray, labels: Sequence[str], transitions: tuple[np.ndarray, np.ndarray]) -> list[int]:
    """The most probable label sequence that is valid BIO (Viterbi over the words'
    log-probabilities, CRF-style decoding without learned transition weights)."""
    start, trans = transitions
    log_probs = np.log(np.clip(word_probs, 1e-12, None))
    n_words = len(log_probs)
    score = start + log_probs[0]
    back = np.zeros((n_words, len(labels)), dtype=np.int64)
    for w in range(1, n_words):
        candidates = score[:, None] + trans  # [previous, current]
        back[w] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_probs[w]
    best = [int(score.argmax())]
    for w in range(n_words - 1, 0, -1):
        best.append(int(back[w, best[-1]]))
    return best[::-1]


# The conjunction و written onto the next word ("روبيو ودي لا فوينتي" = Rubio and De la Fuente).
CONJUNCTION = " و"


def harmonize_document(entities: list[Entity]) -> list[Entity]:
    """Use the other mentions of one document (entities in text order):

    - a surface form tagged with several types takes the type that has at least
      twice as many of its mentions ("ترمب" once LOC among many PERS is PERS);
    - "X وY" tagged as one entity is split in two where X and Y are both names that the
      document mentions on their own (or end such a name): "روبيو ودي لا فوينتي" after
      "ماركو روبيو" and "خوان رامون دي لا فوينتي".
    """
    if len(entities) < 2:
        return entities
    votes: dict[str, Counter] = {}
    for e in entities:
        votes.setdefault(e.text, Counter())[e.label] += 1
    relabeled = []
    for e in entities:
        top, n_top = votes[e.text].most_common(1)[0]
        relabeled.append(replace(e, label=top) if n_top >= 2 * votes[e.text][e.label] else e)
    names = {(e.label, e.text) for e in relabeled if CONJUNCTION not in e.text}
    return [part for e in relabeled for part in _split_joined(e, names)]


def _split_joined(entity: Entity, names: set[tuple[str, str]]) -> list[Entity]:
    at = entity.text.find(CONJUNCTION)
    if at <= 0:
        return [entity]
    head, tail = entity.text[:at], entity.text[at + len(CONJUNCTION):]
    if not (_is_known(head, entity.label, names) and _is_known(tail, entity.label, names)):
        return [entity]
    tail_start = entity.start + at + len(CONJUNCTION)
    return [replace(entity, text=head, end=entity.start + at),
            *_split_joined(replace(entity, text=tail, start=tail_start), names)]


def _is_known(part: str, label: str, names: set[tuple[str, str]]) -> bool:
    """`part` (up to a further و) is a `label` name of the document, or the last words of one ("روبيو" of
    "ماركو روبيو")."""
    first = part.split(CONJUNCTION)[0]
    return any(kind == label and (name == first or name.endswith(" " + first)) for kind, name in names)
