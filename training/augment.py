"""Mention replacement for NER training data (Dai & Adel 2020, "An analysis of simple
data augmentation for named entity recognition"): a sentence is copied with each of
its entities swapped for another mention of the same type, drawn from a pool of
labeled sentences. The context stays real; the names change, so the model learns
from the context rather than by remembering the names it saw."""
from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from kashif.model.decoding import bio_spans


def entity_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, type) of each entity of a tag sequence, read as the Predictor reads its own tags
    (`bio_spans`: an I- without its B- opens an entity)."""
    return [(span.first, span.last + 1, span.label) for span in bio_spans(tags, [0.0] * len(tags))]


def mention_pool(rows: Iterable[dict]) -> dict[str, list[tuple[str, ...]]]:
    """Each entity type's distinct mentions (as token tuples) in rows of `tokens` and `tags`, in first-seen order."""
    pool: dict[str, dict[tuple[str, ...], None]] = {}
    for row in rows:
        for start, end, kind in entity_spans(row["tags"]):
            pool.setdefault(kind, {})[tuple(row["tokens"][start:end])] = None
    return {kind: list(mentions) for kind, mentions in pool.items()}


def replace_mentions(rows: Sequence[dict], copies: int, seed: int,
                     pool: dict[str, list[tuple[str, ...]]] | None = None) -> list[dict]:
    """`copies` new versions of each sentence that has an entity, every entity swapped for
    another mention of its type from `pool` (by default the mentions of `rows`). A type with
    a single mention in the pool is left as it is. Seeded, so the same call gives the same rows."""
    pool = pool if pool is not None else mention_pool(rows)
    rng = random.Random(seed)
    out: list[dict] = []
    for _ in range(copies):
        for row in rows:
            spans = entity_spans(row["tags"])
            if not spans:
                continue
            tokens, tags, last = [], [], 0
            for start, end, kind in spans:
                tokens += row["tokens"][last:start]
                tags += row["tags"][last:start]
                mention = tuple(row["tokens"][start:end])
                choices = pool.get(kind) or [mention]
                if len(choices) > 1:
                    while (pick := rng.choice(choices)) == mention:
                        pass
                    mention = pick
                tokens += mention
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(mention) - 1)
                last = end
            tokens += row["tokens"][last:]
            tags += row["tags"][last:]
            out.append({"tokens": tokens, "tags": tags})
    return out
