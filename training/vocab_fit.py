"""`kashif fit-vocab`: cut a SentencePiece (Unigram) encoder's vocabulary down to
the pieces a corpus uses, plus every single-character piece so that any text
still tokenises, and slice the embedding matrix to match.

Why tokenisation of the counted corpus cannot change: Unigram picks the
highest-scoring segmentation among those its vocabulary allows. Every piece of
each counted word's best segmentation is kept, so that segmentation is still
allowed, and a smaller vocabulary allows nothing new that could beat it.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from kashif.model.errors import KashifError
from kashif.model.text import Normalization, normalize_word, split_words

METASPACE = "▁"
REPORT_FILE = "vocab_fit.json"


class VocabFitError(KashifError, ValueError):
    """The encoder is not a Unigram tokenizer this command can cut."""


@dataclass
class VocabFitReport:
    pieces_before: int
    pieces_after: int
    kept_used: int
    kept_single_characters: int
    parameters_before: int
    parameters_after: int
    words_counted: int
    distinct_words: int

    def to_dict(self) -> dict:
        return asdict(self)


def corpus_words(texts: Iterable[str], normalization: Normalization) -> Counter:
    """Word forms as the models see them: the Predictor's word split (NER) and
    whitespace tokens of the whole text (stance pairs are tokenised as strings)."""
    counts: Counter = Counter()
    for text in texts:
        for s, e in split_words(text):
            word = normalize_word(text[s:e], normalization)
            if word:
                counts[word] += 1
        counts.update(t for t in normalize_word(text, normalization).split() if t)
    return counts


def _unigram_spec(tokenizer) -> dict:
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    if spec.get("model", {}).get("type") != "Unigram":
        raise VocabFitError(f"fit-vocab needs a Unigram (SentencePiece) tokenizer; this one is {spec.get('model', {}).get('type')!r}")
    return spec


def encode_words(tokenizer, words: list[str]) -> list[list[int]]:
    """Piece ids of each word alone, as `is_split_into_words` tokenises it."""
    encodings = tokenizer.backend_tokenizer.encode_batch([[w] for w in words], is_pretokenized=True, add_special_tokens=False)
    return [e.ids for e in encodings]


def kept_ids(tokenizer, words: Iterable[str]) -> tuple[list[int], int, int]:
    """Ids to keep in their old order: specials, pieces used by `words`, single characters."""
    spec = _unigram_spec(tokenizer)
    pieces = [p for p, _ in spec["model"]["vocab"]]
    used = set()
    words = list(words)
    for start in range(0, len(words), 50_000):
        for ids in encode_words(tokenizer, words[start : start + 50_000]):
            used.update(ids)
    specials = {t["id"] for t in spec.get("added_tokens", [])} | set(tokenizer.all_special_ids)
    single = {i for i, p in enumerate(pieces) if len(p.replace(METASPACE, "")) <= 1}
    keep = sorted(used | specials | single)
    return keep, len(used), len(single - used - specials)


def _remap_spec(spec: dict, keep: list[int]) -> dict:
    new_id = {old: new for new, old in enumerate(keep)}
    spec["model"]["vocab"] = [spec["model"]["vocab"][i] for i in keep]
    if spec["model"].get("unk_id") is not None:
        spec["model"]["unk_id"] = new_id[spec["model"]["unk_id"]]
    for token in spec.get("added_tokens", []):
        token["id"] = new_id[token["id"]]

    def remap_post(node):
        if isinstance(node, dict):
            if node.get("type") == "RobertaProcessing":
                node["sep"] = [node["sep"][0], new_id[node["sep"][1]]]
                node["cls"] = [node["cls"][0], new_id[node["cls"][1]]]
            for value in node.get("special_tokens", {}).values() if isinstance(node.get("special_tokens"), dict) else []:
                value["ids"] = [new_id[i] for i in value["ids"]]
            for child in node.get("processors", []) or []:
                remap_post(child)

    remap_post(spec.get("post_processor"))
    return spec


def fit_vocabulary(encoder: Path, texts: Iterable[str], output: Path,
                   normalization: Normalization | None = None) -> tuple[VocabFitReport, list[str]]:
    """Write `output`: the encoder with only the kept pieces and their embedding rows.
    Returns the report and the distinct counted words (to check their tokenisation)."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel, AutoTokenizer

    normalization = normalization or Normalization()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    counts = corpus_words(texts, normalization)
    keep, n_used, n_single = kept_ids(tokenizer, counts)
    spec = _remap_spec(_unigram_spec(tokenizer), keep)
    new_tokenizer = type(tokenizer)(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), **tokenizer.special_tokens_map,
                                    model_max_length=tokenizer.model_max_length)

    model = AutoModel.from_pretrained(encoder, add_pooling_layer=False)
    before = sum(p.numel() for p in model.parameters())
    old = model.get_input_embeddings().weight.detach()
    index = torch.tensor(keep)
    model.set_input_embeddings(torch.nn.Embedding.from_pretrained(old[index].clone(), freeze=False,
                                                                  padding_idx=None))
    new_id = {o: n for n, o in enumerate(keep)}
    model.config.vocab_size = len(keep)
    for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
        value = getattr(model.config, name, None)
        if value is not None:
            setattr(model.config, name, new_id[value])
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    new_tokenizer.save_pretrained(output)
    after = sum(p.numel() for p in model.parameters())
    report = VocabFitReport(len(tokenizer), len(keep), n_used, n_single, before, after,
                            sum(counts.values()), len(counts))
    card = Path(encoder) / "README.md"
    note = (f"\n## Vocabulary fitted to Arabic (`kashif fit-vocab`)\n\n{report.pieces_before:,} → {report.pieces_after:,} pieces "
            f"({report.kept_used:,} used by {report.distinct_words:,} distinct corpus words, plus single characters and "
            f"specials); {report.parameters_before / 1e6:.1f}M → {report.parameters_after / 1e6:.1f}M parameters.\n")
    (output / "README.md").write_text((card.read_text(encoding="utf-8") if card.is_file() else "") + note, encoding="utf-8")
    return report, list(counts)


def tokenisation_check(old_dir: Path, new_dir: Path, words: list[str]) -> dict:
    """Compare old and new tokenisation of `words`: same pieces (by text), pieces per word, unknowns."""
    from transformers import AutoTokenizer

    old, new = AutoTokenizer.from_pretrained(old_dir), AutoTokenizer.from_pretrained(new_dir)
    old_ids, new_ids = encode_words(old, words), encode_words(new, words)
    same = sum(old.convert_ids_to_tokens(a) == new.convert_ids_to_tokens(b) for a, b in zip(old_ids, new_ids))
    return {
        "words": len(words),
        "identical_words": same,
        "pieces_per_word_before": sum(map(len, old_ids)) / max(1, len(words)),
        "pieces_per_word_after": sum(map(len, new_ids)) / max(1, len(words)),
        "unknown_before": sum(i == old.unk_token_id for ids in old_ids for i in ids),
        "unknown_after": sum(i == new.unk_token_id for ids in new_ids for i in ids),
    }


def fit_vocab_to_corpus(encoder: str | Path, output: str | Path, corpus: Sequence[str], *, text_field: str = "text",
                        max_documents: int | None = None, held_out: Sequence[str] = ()) -> dict:
    """`kashif fit-vocab`: cut `encoder`'s vocabulary to the words of `corpus` (FORMAT:PATH sources) into `output`,
    check the tokenisation of the counted words (and of `held_out`), and write the report (REPORT_FILE); the report."""
    from kashif.training.corpus import CorpusReader, parse_source

    encoder, output = Path(encoder), Path(output)
    reader = CorpusReader([parse_source(c, text_field) for c in corpus], dedup=True, min_words=1,
                          max_documents=max_documents, normalization=Normalization(
                              remove_diacritics=False, remove_tatweel=False, remove_inword_marks=False))
    report, words = fit_vocabulary(encoder, reader, output)
    result = {"fit": report.to_dict(), "counted_words": tokenisation_check(encoder, output, words)}
    if held_out:
        held = CorpusReader([parse_source(c, text_field) for c in held_out], dedup=False, min_words=1)
        words = [w for paragraph in held for w in paragraph.split(" ")]
        result["held_out"] = tokenisation_check(encoder, output, words)
    (output / REPORT_FILE).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result
