"""SentencePiece (XLM-R style Unigram) encoders go through train, evaluate, the
Predictor (offsets, first-piece labels, windows), ONNX, score and serve exactly
like WordPiece ones. The tokenizer is built here, on the test corpus."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from kashif.model.decoding import bio_spans
from kashif.model.predictor import Predictor, PredictorConfig
from kashif.model.text import normalize_word, sentence_words
from tests.support import FIXTURES, REPO
from tests.support.server_fixtures import start_server
from tests.support.text_samples import HARD
from tests.support.tiny_models import build_unigram_tokenizer, save_tiny_model

FIX = FIXTURES / "training"
TEXT = "قال وزير الخارجية محمد علي إن القاهرة ستستضيف مؤتمر الأمم المتحدة في الرياض."


@pytest.fixture(scope="module")
def sp_tokenizer(arabic_sentences):
    return build_unigram_tokenizer(arabic_sentences)


@pytest.fixture(scope="module")
def sp_encoder(tmp_path_factory, sp_tokenizer):
    return save_tiny_model(tmp_path_factory.mktemp("sp-encoder"), "mlm", sp_tokenizer, seed=3)


def _train(task: str, encoder: Path, output: Path) -> subprocess.CompletedProcess:
    data = ["--train", str(FIX / "ner_train.txt"), "--dev", str(FIX / "ner_dev.txt")] if task == "ner" else \
        ["--train", str(FIX / "stance_train.csv"), "--dev", str(FIX / "stance_dev.csv")]
    cmd = [sys.executable, "-m", "kashif", "train", task, *data, "--base-model", str(encoder), "--output", str(output),
           "--max-steps", "16", "--batch-size", "8", "--learning-rate", "3e-3", "--warmup", "0", "--bf16", "off", "--seed", "1"]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def sp_bundle(tmp_path_factory, sp_encoder):
    root = tmp_path_factory.mktemp("sp-bundle")
    _train("ner", sp_encoder, root / "ner")
    _train("stance", sp_encoder, root / "stance")
    return root


@pytest.fixture(scope="module")
def sp_predictor(sp_bundle):
    return Predictor.from_refs(model=str(sp_bundle), config=PredictorConfig(precision="fp32"))


def test_the_tokenizer_is_sentencepiece(sp_tokenizer):
    spec = json.loads(sp_tokenizer.backend_tokenizer.to_str())
    assert spec["model"]["type"] == "Unigram"
    assert sp_tokenizer.tokenize("القاهرة")[0].startswith("▁")
    assert sp_tokenizer.cls_token == "<s>" and sp_tokenizer.sep_token == "</s>"


def test_offsets_point_into_the_original_text(sp_predictor):
    docs = [HARD, TEXT, "", "ـــ", "😀 " * 3]
    for text, entities in zip(docs, sp_predictor.entities(docs)):
        for e in entities:
            assert text[e.start : e.end] == e.text and 0 <= e.start < e.end <= len(text)
    assert sp_predictor.entities([""])[0] == []


def test_word_labels_come_from_each_words_first_piece(sp_bundle, sp_predictor):
    """The Predictor's labels equal a hand computation with plain transformers."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model_dir = sp_bundle / "ner"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    meta = json.loads((model_dir / "kashif.json").read_text(encoding="utf-8"))
    from kashif.model.text import Normalization

    normalization = Normalization.from_dict(meta["normalization"])
    words = [(s, e) for sentence in sentence_words(TEXT) for s, e in sentence]
    assert len(sentence_words(TEXT)) == 1
    pieces = [tokenizer([normalize_word(TEXT[s:e], normalization) or tokenizer.unk_token], is_split_into_words=True,
                        add_special_tokens=False)["input_ids"] for s, e in words]
    ids = [tokenizer.cls_token_id, *[p for word in pieces for p in word], tokenizer.sep_token_id]
    first = np.cumsum([1] + [len(p) for p in pieces[:-1]])
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].numpy()
    tags = [model.config.id2label[int(i)] for i in logits[first].argmax(-1)]
    expected = [[words[span.first][0], words[span.last][1], span.label] for span in bio_spans(tags, [0.0] * len(tags))]
    got = [[x.start, x.end, x.label] for x in sp_predictor.entities([TEXT])[0]]
    assert got == expected


def test_windows_long_sentences_and_keep_short_ones_exact(sp_bundle, sp_predictor):
    windowed = Predictor.from_refs(model=str(sp_bundle), config=PredictorConfig(max_length=64, window_overlap=8, precision="fp32"))
    assert windowed.entities([TEXT]) == sp_predictor.entities([TEXT])
    long_text = " ".join(["محمد", "علي", "زار", "القاهرة", "و"] * 80)
    small = Predictor.from_refs(model=str(sp_bundle), config=PredictorConfig(max_length=24, window_overlap=6, precision="fp32"))
    entities = small.entities([long_text])[0]
    assert all(long_text[e.start : e.end] == e.text for e in entities)
    assert entities and max(e.end for e in entities) > len(long_text) - 40


def test_training_dev_scores_equal_evaluate(sp_bundle, sp_predictor):
    from kashif.training.evaluate import evaluate

    for task, data, head in (("ner", FIX / "ner_dev.txt", "f1"), ("stance", FIX / "stance_dev.csv", "macro_f1")):
        meta = json.loads((sp_bundle / task / "kashif.json").read_text(encoding="utf-8"))
        report = evaluate(sp_predictor, str(data), task)
        assert round(report["metrics"][head], 4) == meta["metrics"]["dev"][head], task


def test_plain_pipeline_loads_both_models(sp_bundle):
    from transformers import pipeline

    tagged = pipeline("token-classification", model=str(sp_bundle / "ner"), device="cpu")(TEXT)
    assert all(TEXT[t["start"] : t["end"]].strip() for t in tagged)
    classified = pipeline("text-classification", model=str(sp_bundle / "stance"), device="cpu")({"text": "هدف", "text_pair": TEXT})
    assert classified["label"] in {"agree", "disagree", "other"}


def test_onnx_equals_torch(sp_bundle, sp_predictor, arabic_sentences):
    pytest.importorskip("onnxruntime")
    onnx = Predictor.from_refs(model=str(sp_bundle), config=PredictorConfig(backend="onnx", precision="fp32"))
    docs = [TEXT, *arabic_sentences[:15]]
    spans = lambda results: [[(e.start, e.end, e.label) for e in doc] for doc in results]  # noqa: E731
    assert spans(onnx.entities(docs)) == spans(sp_predictor.entities(docs))
    pairs = [(s, "هدف") for s in docs[:4]]
    for a, b in zip(onnx.stance(pairs), sp_predictor.stance(pairs)):
        assert a.scores == pytest.approx(b.scores, abs=1e-3)


def test_score_and_serve(sp_bundle, sp_predictor, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": i, "text": t, "claim": "هدف"}, ensure_ascii=False) + "\n"
                            for i, t in enumerate([TEXT, HARD])), encoding="utf-8")
    out = tmp_path / "scored.jsonl"
    proc = subprocess.run([sys.executable, "-m", "kashif", "score", str(docs), "--output", str(out), "--model", str(sp_bundle),
                           "--target-field", "claim"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    expected = sp_predictor.entities([TEXT, HARD])
    assert [[(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in rows] == \
        [[(e.start, e.end, e.label) for e in doc] for doc in expected]
    server = start_server(["--model", str(sp_bundle)], log_dir=tmp_path)
    try:
        answer = httpx.post(server.url + "/v1/analyze", json={"text": TEXT, "targets": ["هدف"]}, timeout=30).json()
        assert [(e["start"], e["end"], e["label"]) for e in answer["entities"]] == [(e.start, e.end, e.label) for e in expected[0]]
        assert answer["stance"][0]["label"] == sp_predictor.stance([(TEXT, "هدف")])[0].label
    finally:
        server.stop()
