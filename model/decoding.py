"""From model outputs to words and entities: subword pooling, BIO repair, span merging."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

SUBWORD_STRATEGIES = ("first", "mean", "max")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


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
