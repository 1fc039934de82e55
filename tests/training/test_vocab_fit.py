"""`kashif fit-vocab`: a SentencePiece encoder cut to the pieces a corpus uses."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from kashif.model.text import Normalization
from kashif.training.vocab_fit import VocabFitError, corpus_words, encode_words, fit_vocabulary, tokenisation_check
from tests.support import REPO
from tests.support.tiny_models import build_unigram_tokenizer, save_tiny_model


@pytest.fixture(scope="module")
def sp_encoder(tmp_path_factory, arabic_sentences):
    tokenizer = build_unigram_tokenizer(arabic_sentences, vocab_size=800)
    return save_tiny_model(tmp_path_factory.mktemp("sp-enc"), "mlm", tokenizer, seed=4)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, sp_encoder, arabic_sentences):
    out = tmp_path_factory.mktemp("fitted")
    report, words = fit_vocabulary(sp_encoder, arabic_sentences[:25], out)
    return out, report, words


def test_vocabulary_and_embeddings_shrink(fitted, sp_encoder):
    from transformers import AutoModel, AutoTokenizer

    out, report, _ = fitted
    assert report.pieces_after < report.pieces_before == len(AutoTokenizer.from_pretrained(sp_encoder))
    assert report.parameters_after < report.parameters_before
    assert AutoModel.from_pretrained(out).get_input_embeddings().weight.shape[0] == report.pieces_after == len(AutoTokenizer.from_pretrained(out))


def test_counted_words_tokenise_exactly_as_before(fitted, sp_encoder):
    out, _, words = fitted
    check = tokenisation_check(sp_encoder, out, words)
    assert check["identical_words"] == check["words"] == len(words) > 50
    assert check["unknown_after"] == check["unknown_before"]


def test_held_out_text_still_tokenises_without_new_unknowns(fitted, sp_encoder, arabic_sentences):
    out, _, _ = fitted
    held_out = list(corpus_words(arabic_sentences[25:], Normalization()))
    check = tokenisation_check(sp_encoder, out, held_out)
    assert check["unknown_after"] == check["unknown_before"]
    assert check["pieces_per_word_after"] >= check["pieces_per_word_before"]
    assert check["pieces_per_word_after"] < 2 * check["pieces_per_word_before"]


def test_the_cut_model_computes_the_same_hidden_states(fitted, sp_encoder, arabic_sentences):
    import torch
    from transformers import AutoModel, AutoTokenizer

    out, _, _ = fitted
    sentence = arabic_sentences[3]
    old_tok, new_tok = AutoTokenizer.from_pretrained(sp_encoder), AutoTokenizer.from_pretrained(out)
    old_ids, new_ids = old_tok(sentence, return_tensors="pt"), new_tok(sentence, return_tensors="pt")
    assert old_tok.convert_ids_to_tokens(old_ids["input_ids"][0]) == new_tok.convert_ids_to_tokens(new_ids["input_ids"][0])
    with torch.no_grad():
        old = AutoModel.from_pretrained(sp_encoder, add_pooling_layer=False)(**old_ids).last_hidden_state
        new = AutoModel.from_pretrained(out, add_pooling_layer=False)(**new_ids).last_hidden_state
    np.testing.assert_allclose(new.numpy(), old.numpy(), atol=1e-6)
    assert encode_words(new_tok, ["<s>"]) and new_tok.pad_token_id is not None


def test_wordpiece_encoders_are_refused(tiny_encoder_dir, tmp_path):
    with pytest.raises(VocabFitError, match="Unigram"):
        fit_vocabulary(tiny_encoder_dir, ["نص"], tmp_path / "out")


def test_cli_writes_the_report(sp_encoder, tmp_path, arabic_sentences):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(arabic_sentences[:25]), encoding="utf-8")
    held = tmp_path / "held.txt"
    held.write_text("\n".join(arabic_sentences[25:40]), encoding="utf-8")
    out = tmp_path / "fitted"
    cmd = [sys.executable, "-m", "kashif", "fit-vocab", "--encoder", str(sp_encoder), "--output", str(out),
           "--corpus", f"text:{corpus}", "--held-out", str(held)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "vocab_fit.json").read_text(encoding="utf-8"))
    assert report["counted_words"]["identical_words"] == report["counted_words"]["words"]
    assert report["held_out"]["unknown_after"] == report["held_out"]["unknown_before"]
    assert "Vocabulary fitted" in (out / "README.md").read_text(encoding="utf-8")
    missing = subprocess.run([*cmd[:-4], "--corpus", str(tmp_path / "nope.txt")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0 and "not found" in missing.stderr
