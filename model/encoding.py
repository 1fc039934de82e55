"""How inputs become model tensors; shared by training and inference so both agree."""
from __future__ import annotations

from typing import Sequence

from kashif.model.text import Normalization, normalize_word


def encode_words(tokenizer, words: Sequence[str], normalization: Normalization) -> list[list[int]]:
    """Piece ids of each word as the NER model sees it: normalised with the model's settings and
    tokenised on its own (`is_split_into_words`), so a word's pieces never depend on its neighbours;
    a word that normalises to nothing becomes the unknown token."""
    unknown = tokenizer.unk_token or "[UNK]"
    forms = [[normalize_word(w, normalization) or unknown] for w in words]
    return tokenizer(forms, is_split_into_words=True, add_special_tokens=False)["input_ids"]


def encode_stance_pairs(
    tokenizer,
    texts: Sequence[str],
    targets: Sequence[str | None] | None,
    max_length: int,
    normalization: Normalization | None = None,
    padding: bool | str = False,
    return_tensors: str | None = None,
):
    """Encode (target, text) pairs: the target first and never cut, the text
    second and truncated when the pair does not fit `max_length`.

    Items without a target (None or "") are encoded as a single segment.
    `normalization` (the model's) rewrites both sides first, as for NER words.
    Returns the tokenizer's BatchEncoding plus `truncated` (list[bool]).
    """
    texts = list(texts)
    targets = list(targets) if targets is not None else [None] * len(texts)
    if len(targets) != len(texts):
        raise ValueError("texts and targets differ in length")
    encodings = []
    truncated = []
    if normalization is not None:
        texts = [normalize_word(t, normalization) for t in texts]
        targets = [normalize_word(t, normalization) if t else t for t in targets]
    for text, target in zip(texts, targets):
        segments = (target, text) if target else (text,)
        enc = tokenizer(*segments, truncation=False, verbose=False)  # over-length is handled below, not warned about
        cut = len(enc["input_ids"]) > max_length
        if cut:
            # Cut the text, keep the target; a target that alone fills the window is cut too.
            target_len = len(tokenizer(target, add_special_tokens=False)["input_ids"]) if target else 0
            strategy = "only_second" if target and target_len + 3 < max_length else True
            enc = tokenizer(*segments, truncation=strategy, max_length=max_length)
        truncated.append(cut)
        encodings.append(enc)
    keys = encodings[0].keys() if encodings else ["input_ids", "attention_mask"]
    batch = {k: [e[k] for e in encodings] for k in keys}
    if padding or return_tensors:
        batch = tokenizer.pad(batch, padding=padding or True, return_tensors=return_tensors)
    else:
        from transformers import BatchEncoding

        batch = BatchEncoding(batch)
    batch["truncated"] = truncated
    return batch
