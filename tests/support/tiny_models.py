"""Tiny random-init Arabic BERT models, built locally and saved like hub checkpoints."""
from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from kashif.model.metadata import ModelMetadata
from kashif.model.text import Normalization

NER_LABELS = ["O", "B-PERS", "I-PERS", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
STANCE_LABELS = ["agree", "disagree", "other"]
SENTIMENT_LABELS = ["Negative", "Neutral", "Positive"]  # Mawqif's sentiment column
TOPIC_LABELS = ["politics", "sport", "economy", "health"]  # a multi-label topic model's
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tokenizer(sentences: list[str], vocab_size: int = 1200):
    from transformers import BertTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(sentences, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    assert fast.vocab_size > 100, fast.vocab_size
    return fast


def tiny_config(vocab_size: int, labels: list[str] | None = None, max_position: int = 128):
    from transformers import BertConfig

    kwargs = {}
    if labels:
        kwargs = {"num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {l: i for i, l in enumerate(labels)}}
    return BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=max_position, **kwargs,
    )


def save_tiny_model(directory: Path, task: str, tokenizer, seed: int = 0, max_position: int = 128,
                    metadata: bool = True) -> Path:
    """A random-init model for `task` (ner, stance, classify: a sentiment model; mlm: an encoder); without
    `metadata`, a plain hub-style directory (no kashif.json)."""
    import torch
    from transformers import BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification

    torch.manual_seed(seed)
    labels = {"ner": NER_LABELS, "stance": STANCE_LABELS, "classify": SENTIMENT_LABELS}.get(task)
    cls = {"ner": BertForTokenClassification, "stance": BertForSequenceClassification, "classify": BertForSequenceClassification,
           "mlm": BertForMaskedLM}[task]
    model = cls(tiny_config(len(tokenizer), labels, max_position))
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    if labels and metadata:
        ModelMetadata(task=task, labels=labels, normalization=Normalization(), max_length=max_position).save(directory)
    return directory


def save_tiny_multi_label_model(directory: Path, tokenizer, seed: int = 0) -> Path:
    """A plain hub-style multi-label topic classifier (`problem_type: multi_label_classification`, no kashif.json)."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    config = tiny_config(len(tokenizer), TOPIC_LABELS)
    config.problem_type = "multi_label_classification"
    BertForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


UNIGRAM_SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def build_unigram_tokenizer(sentences: list[str], vocab_size: int = 600):
    """An XLM-R style SentencePiece (Unigram + Metaspace) tokenizer trained on `sentences`."""
    from transformers import XLMRobertaTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(sentences, trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=UNIGRAM_SPECIAL,
                                                              unk_token="<unk>"))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    fast = XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", cls_token="<s>",
                                   sep_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    assert fast.vocab_size > 100, fast.vocab_size
    return fast
