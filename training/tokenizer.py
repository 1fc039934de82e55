"""WordPiece vocabulary training with `tokenizers`, wrapped as a transformers fast tokenizer."""
from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

from kashif.model.errors import KashifError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


class TokenizerError(KashifError, ValueError):
    pass


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int = 24000,
    min_frequency: int = 2,
    limit_alphabet: int = 1000,
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer trained on `texts`.

    Text is expected to be normalized by `model.text` already, so the
    normalizer only cleans control characters: BERT's accent stripping would
    turn أ/ؤ/ئ into ا/و/ي (NFD + drop combining marks) and lowercasing is
    meaningless for Arabic.
    """
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        limit_alphabet=limit_alphabet,
        special_tokens=SPECIAL_TOKENS,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    wrapped = BertTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        do_lower_case=False,
        strip_accents=False,
        tokenize_chinese_chars=True,
        model_max_length=model_max_length,
    )
    check_tokenizer(wrapped, expected_min_vocab=len(SPECIAL_TOKENS) + 1)
    return wrapped


def check_tokenizer(tokenizer: PreTrainedTokenizerFast, expected_min_vocab: int = 6) -> None:
    """Guard against the transformers-5 pitfall of a silently empty vocabulary."""
    if len(tokenizer) < expected_min_vocab:
        raise TokenizerError(f"tokenizer has only {len(tokenizer)} entries (expected ≥ {expected_min_vocab})")
    for token in SPECIAL_TOKENS:
        if tokenizer.convert_tokens_to_ids(token) is None:
            raise TokenizerError(f"tokenizer lacks special token {token}")
