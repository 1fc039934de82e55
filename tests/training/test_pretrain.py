"""`kashif pretrain`: corpus streaming, WordPiece, tiny MLM runs, resume, and the base-model contract."""
from __future__ import annotations

import importlib.util
import json

import pytest

from kashif.model.text import Normalization
from kashif.training.corpus import CorpusError, CorpusReader, CorpusSource, load_exclusions, parse_source
from kashif.commands.pretrain import run as pretrain_main
from kashif.training.tokenizer import train_wordpiece
from tests.support import FIXTURES

PRETRAIN_FIXTURES = FIXTURES / "pretrain"
CORPUS = PRETRAIN_FIXTURES / "corpus.jsonl.gz"
EXCLUDE = PRETRAIN_FIXTURES / "exclude.csv"
TINY = ["--size", "tiny", "--vocab-size", "400", "--max-length", "32", "--batch-size", "8",
        "--eval-sequences", "16", "--threads", "1", "--no-progress", "--seed", "3"]


def _reader(**kwargs) -> CorpusReader:
    norm = Normalization()
    return CorpusReader([CorpusSource(CORPUS, match_field="title")], norm, **kwargs)


def test_corpus_dedups_and_drops_excluded_sentences_and_documents():
    norm = Normalization()
    exclusions = load_exclusions([EXCLUDE], norm)
    assert len(exclusions) == 4  # s1 and s2 of two rows
    reader = _reader(exclusions=exclusions)
    text = "\n".join(reader)
    stats = reader.stats
    assert stats.documents == 243
    assert stats.documents_excluded == 1  # its title is an excluded sentence
    assert stats.sentences_excluded == 1  # one body sentence is excluded
    assert stats.duplicate_paragraphs >= 1  # the duplicated article
    assert "ارتفاع صادرات النفط" not in text
    assert "جملة اختبار محظورة" not in text
    assert "بدأ المؤتمر صباح اليوم في الرباط" in text  # the rest of that paragraph stays
    assert "عنوان الخبر" not in text  # titles are never text


def test_corpus_without_exclusions_keeps_everything_but_titles():
    reader = _reader(dedup=False)
    text = "\n".join(reader)
    assert "ارتفاع صادرات النفط" in text and "جملة اختبار محظورة" in text
    assert reader.stats.duplicate_paragraphs == 0
    assert "عنوان الخبر" not in text


def test_corpus_plain_text_and_conll_formats():
    norm = Normalization()
    docs = list(CorpusReader([parse_source(str(PRETRAIN_FIXTURES / "corpus.txt"))], norm, min_words=1))
    assert docs == ["السطر الأول من الوثيقة الأولى .", "السطر الثاني من الوثيقة الأولى .", "الوثيقة الثانية في سطر واحد ."]
    conll = list(CorpusReader([parse_source(f"conll:{PRETRAIN_FIXTURES / 'sample.conll'}")], norm, min_words=1))
    assert conll == ["زار محمد القاهرة .", "قال علي"]


def test_conll_corpus_strips_every_bidi_mark(tmp_path):
    """Not only U+200E: a word split by U+200F stays one word, and a line of marks ends the document."""
    marked = tmp_path / "marked.conll"
    marked.write_text(
        "\u200eزار O\n\u2067مح\u200fمد\u2069 B-PERS\nالقاهرة\u061c B-LOC\n. O\n\u200f\u202b\nقال O\n\u2066علي\u2069 B-PERS\n",
        encoding="utf-8",
    )
    docs = list(CorpusReader([parse_source(f"conll:{marked}")], Normalization(), min_words=1))
    assert docs == ["زار محمد القاهرة .", "قال علي"]


def test_corpus_normalizes_words_like_inference():
    norm = Normalization()
    path = PRETRAIN_FIXTURES / "corpus.txt"
    reader = CorpusReader([CorpusSource(path)], norm, min_words=1)
    assert all("\u0640" not in line for line in reader)
    from kashif.training.corpus import normalized_words

    assert normalized_words("مُحَمَّد،والقاهرةـ", norm) == ["محمد", "،", "والقاهرة"]


def test_corpus_errors_name_file_and_line(tmp_path):
    with pytest.raises(CorpusError, match=r"broken\.jsonl:2: invalid JSON"):
        list(CorpusReader([CorpusSource(PRETRAIN_FIXTURES / "broken.jsonl")], Normalization()))
    other = tmp_path / "c.jsonl"
    other.write_text('{"body": "نص"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"c\.jsonl:1: no 'text' field"):
        list(CorpusReader([CorpusSource(other)], Normalization()))
    with pytest.raises(CorpusError, match="exclusion file not found"):
        load_exclusions([tmp_path / "missing.csv"], Normalization())


def test_wordpiece_keeps_hamza_forms_and_round_trips(tmp_path):
    from transformers import AutoTokenizer

    tok = train_wordpiece(_reader(), vocab_size=300)
    assert 200 < tok.vocab_size <= 300
    assert tok.vocab_size == len(tok)
    pieces = tok.tokenize("أكد أحمد")
    assert "".join(p.removeprefix("##") for p in pieces).startswith("أكد")  # BERT accent stripping would give اكد
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again.vocab_size == tok.vocab_size
    text = "أعلن محمد العلي في القاهرة"
    assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert again(text)["input_ids"][0] == again.cls_token_id and again(text)["input_ids"][-1] == again.sep_token_id


def test_pretrain_tiny_model_is_a_base_model_for_finetuning(tmp_path):
    import torch
    from transformers import AutoModelForMaskedLM, AutoModelForTokenClassification, AutoTokenizer

    out = tmp_path / "enc"
    code = pretrain_main(["--corpus", str(CORPUS), "--exclude", str(EXCLUDE), "--output", str(out),
                          "--max-steps", "40", "--learning-rate", "3e-3", *TINY])
    assert code == 0
    report = json.loads((out / "pretrain.json").read_text(encoding="utf-8"))
    assert report["mlm"]["steps"] == 40
    assert report["mlm"]["tokens_seen"] == 40 * 8 * 32
    assert report["mlm"]["eval_loss_final"] < report["mlm"]["eval_loss_initial"]
    assert report["corpus"]["documents_excluded"] == 1

    tok = AutoTokenizer.from_pretrained(out)
    assert 200 < tok.vocab_size <= 400
    mlm = AutoModelForMaskedLM.from_pretrained(out)
    assert mlm.config.hidden_size == 32 and mlm.config.num_hidden_layers == 2
    assert mlm.config.vocab_size == len(tok)
    ner = AutoModelForTokenClassification.from_pretrained(out, num_labels=9, ignore_mismatched_sizes=True)
    enc = tok(["زار", "محمد", "القاهرة"], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        logits = ner(**enc).logits
    assert logits.shape == (1, enc["input_ids"].shape[1], 9)
    # encoder weights are the pretrained ones, not a fresh init
    assert torch.equal(ner.bert.embeddings.word_embeddings.weight, mlm.bert.embeddings.word_embeddings.weight)


def test_resume_continues_from_the_checkpoint(tmp_path):
    out = tmp_path / "enc"
    assert pretrain_main(["--corpus", str(CORPUS), "--output", str(out), "--max-steps", "6", *TINY]) == 0
    first = json.loads((out / "pretrain.json").read_text(encoding="utf-8"))
    assert first["mlm"]["steps"] == 6
    assert pretrain_main(["--corpus", str(CORPUS), "--output", str(out), "--max-steps", "10", "--resume",
                          *TINY]) == 0
    second = json.loads((out / "pretrain.json").read_text(encoding="utf-8"))
    assert second["mlm"]["steps"] == 10
    assert second["mlm"]["tokens_seen"] == 10 * 8 * 32  # 6 before + 4 after, nothing repeated
    assert second["mlm"]["eval_loss_initial"] is None  # no fresh start
    assert second["corpus"]["blocks"] == first["corpus"]["blocks"]


def test_continued_pretraining_from_an_existing_encoder(tmp_path):
    from transformers import AutoModelForMaskedLM

    base = tmp_path / "base"
    assert pretrain_main(["--corpus", str(CORPUS), "--output", str(base), "--max-steps", "2", *TINY]) == 0
    adapted = tmp_path / "adapted"
    assert pretrain_main(["--corpus", f"text:{PRETRAIN_FIXTURES / 'corpus.txt'}", "--corpus", str(CORPUS),
                          "--init-from", str(base), "--output", str(adapted), "--max-steps", "2", *TINY]) == 0
    before = AutoModelForMaskedLM.from_pretrained(base)
    after = AutoModelForMaskedLM.from_pretrained(adapted)
    assert after.config.vocab_size == before.config.vocab_size
    assert (adapted / "tokenizer.json").read_text(encoding="utf-8") == (base / "tokenizer.json").read_text(encoding="utf-8")


@pytest.mark.skipif(importlib.util.find_spec("gensim") is None, reason="gensim (extra 'pretrain') not installed")
def test_skipgram_embedding_init(tmp_path):
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    out, init = tmp_path / "enc", tmp_path / "init"
    assert pretrain_main(["--corpus", str(CORPUS), "--output", str(out), "--max-steps", "1",
                          "--init-embeddings", "skipgram", "--skipgram-epochs", "5", "--save-init", str(init),
                          *TINY]) == 0
    report = json.loads((out / "pretrain.json").read_text(encoding="utf-8"))
    assert report["skipgram_pieces"] > 100
    snapshot = json.loads((init / "pretrain.json").read_text(encoding="utf-8"))
    assert snapshot["mlm"]["tokens_seen"] == 0 and "skipgram" in snapshot["timings_s"]
    model = AutoModelForMaskedLM.from_pretrained(init)
    tok = AutoTokenizer.from_pretrained(init)
    emb = model.bert.embeddings.word_embeddings.weight.detach()

    def cos(a: str, b: str) -> float:
        ia, ib = tok.convert_tokens_to_ids(a), tok.convert_tokens_to_ids(b)
        return float(torch.nn.functional.cosine_similarity(emb[ia], emb[ib], dim=0))

    # city names share contexts in the fixture corpus; a city and a verb do not
    assert cos("بيروت", "دمشق") > cos("بيروت", "أوضح")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give a budget"),
        (["--max-steps", "1", "--corpus", "missing.jsonl"], "missing.jsonl: corpus file not found"),
        (["--max-steps", "1", "--exclude", "nope.csv"], "nope.csv: exclusion file not found"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, extra, message):
    code = pretrain_main(["--corpus", str(CORPUS), "--output", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1 and err.startswith("kashif pretrain: error: ")


def test_too_little_text_for_one_batch_is_a_clear_error(tmp_path, capsys):
    code = pretrain_main(["--corpus", f"text:{PRETRAIN_FIXTURES / 'corpus.txt'}", "--output", str(tmp_path / "o"),
                          "--max-steps", "1", "--size", "tiny", "--vocab-size", "100", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert "fewer than one batch" in err[-1]
