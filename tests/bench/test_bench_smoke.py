"""The pieces of `make bench` that decide its verdicts: FLOP counting, label
agreement against the transformers pipeline, and the summary's targets table.
(No timing here: speed belongs to bench/ itself.)"""
from __future__ import annotations

import json

import pytest

from bench.flops import flops_per_sequence
from bench.predictor_vs_pipeline import identical_inputs, label_agreement
from bench.summary import write_summary

BERT_BASE = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12}


def test_flops_of_bert_base_match_the_hand_count():
    # 12 layers × (8·n·h² + 4·n·h·f + 4·n²·h) + head: 22.35 GFLOP at 128 tokens, 5.47 at 32
    assert flops_per_sequence(BERT_BASE, 128) == pytest.approx(22.35e9, rel=2e-3)
    assert flops_per_sequence(BERT_BASE, 32) == pytest.approx(5.474e9, rel=2e-3)
    # attention makes it superlinear in length
    assert flops_per_sequence(BERT_BASE, 256) > 2 * flops_per_sequence(BERT_BASE, 128)


def test_label_agreement_counts_gold_tokens_and_sentences():
    sentences = [["محمد", "في", "عمان"], ["ذهب", "أحمد"]]
    ours = [[(0, 4, "PERS"), (8, 12, "LOC")], [(4, 8, "PERS")]]
    theirs = [[(0, 4, "PERS")], [(4, 8, "PERS")]]
    result = label_agreement(sentences, ours, theirs, identical=[False, True])
    assert result["word_agreement"] == pytest.approx(4 / 5)
    assert result["sentence_agreement"] == pytest.approx(1 / 2)
    assert result["identical_input_word_agreement"] == 1.0
    assert result["identical_input_sentences"] == 1


def test_predictor_and_pipeline_give_equal_labels_on_identical_input(tiny_ner_dir, arabic_sentences):
    from transformers import pipeline

    from kashif.model.predictor import Predictor, PredictorConfig

    texts = [s for s in arabic_sentences if 3 <= len(s.split()) <= 30][:40]
    sentences = [t.split(" ") for t in texts]
    texts = [" ".join(tokens) for tokens in sentences]
    same = identical_inputs(str(tiny_ner_dir), texts)
    assert sum(same) >= 5, "the fixture sentences should mostly reach the model unchanged"

    from bench.predictor_vs_pipeline import PIPELINE_DECODING

    config = PredictorConfig(batch_size=8, precision="fp32", **PIPELINE_DECODING)
    predictor = Predictor.from_refs(ner_model=str(tiny_ner_dir), config=config, tasks=("ner",))
    ours = [[(e.start, e.end, e.label) for e in doc] for doc in predictor.entities(texts)]
    pipe = pipeline("token-classification", model=str(tiny_ner_dir), tokenizer=str(tiny_ner_dir), aggregation_strategy="first", device="cpu")
    theirs = [[(e["start"], e["end"], e["entity_group"]) for e in doc] for doc in pipe(texts)]

    result = label_agreement(sentences, ours, theirs, same)
    assert result["identical_input_word_agreement"] == 1.0
    assert any(ours), "a random tiny model still tags some words"


def test_summary_reports_targets_from_present_results(tmp_path):
    (tmp_path / "server.json").write_text(json.dumps({
        "meta": {"date": "d", "commit": "c", "threads": 2, "quick": True},
        "model": "m", "backend": "b", "load_generator": "wrk", "seconds_per_level": 1,
        "levels": {"on": {"1": {"requests_per_s": 10, "p50_ms": 1, "p95_ms": 2, "p99_ms": 3, "non_2xx": 0, "socket_errors": 0}}},
        "batching_speedup": {"1": 1.0, "64": 5.0},
        "burst": {"queue_limit": 4, "burst_size": 32, "waves": 1, "statuses": {"200": 4, "503": 28}, "refused_fraction": 0.875,
                  "accepted": 4, "accepted_p99_ms": 30.0, "accepted_p50_ms": 20.0, "unloaded_p50_ms": 10.0, "unloaded_p99_ms": 20.0,
                  "p99_ratio": 1.5, "recovered": True, "server_alive": True},
    }))
    text = write_summary(tmp_path, "python -m bench.run --quick", {"cpu": "x", "cores": 2}, quick=True, commit="c", date="d").read_text()
    assert "quick/smoke" in text
    assert "| Server: batching ≥ 4× no batching at c=64 | 5.00× | yes |" in text
    assert "Predictor ≥ 3× HF pipeline | – | not measured |" in text
    assert "not measured: no GPU lent to this session" in text


def test_soak_mix_is_seeded_and_covers_routes_and_sizes(tmp_path):
    from bench.soak import request_mix, write_results

    mix = request_mix(200)
    assert mix == request_mix(200) and mix != request_mix(200, seed=5)
    assert {route for route, _ in mix} == {"/v1/entities", "/v1/stance", "/v1/analyze"}
    bodies = [json.loads(body) for _, body in mix]
    assert any("texts" in b for b in bodies) and any("items" in b for b in bodies) and any("targets" in b for b in bodies)
    lengths = [len(b["text"]) for b in bodies if "text" in b]
    assert min(lengths) < 100 and max(lengths) > 1000

    latency = {"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0, "max_ms": 40.0}
    rss = {"server_pid": 1, "server_rss_mb": 300.0, "inference_pid": 2, "inference_rss_mb": 500.0, "total_rss_mb": 800.0}
    payload = {"meta": {"command": "python -m bench.soak --requests 4", "commit": "abc", "date": "d", "threads": 2},
               "model": "bundled", "requests": 4, "concurrency": 2, "threads": 2, "seconds": 1.0, "requests_per_s": 4.0,
               "statuses": {"200": 4}, "all_ok": True, "latency": latency, "routes": {"/v1/stance": {"requests": 4, "ok": 4, **latency}},
               "after_kill_10s": {"requests": 2, **latency}, "kill": {"inference_pid": 2, "after_requests": 2, "restarts_counted": 1.0},
               "rss_before": rss, "rss_after": {**rss, "inference_pid": 3}, "server_alive": True}
    json_path, md_path = write_results(tmp_path, payload)
    assert json.loads(json_path.read_text())["statuses"] == {"200": 4}
    md = md_path.read_text()
    assert "python -m bench.soak --requests 4" in md and "commit abc" in md and "p99 30 ms" in md and "800.0 MB" in md


def test_backends_recommendation_skips_batch_dependent_int8_and_names_auto_rows():
    from bench.backends import recommend
    from bench.summary import _backend_row_name

    def row(backend, precision, speed, delta, host="as-is"):
        return {"backend": backend, "precision": precision, "host": host,
                "bundled": {"ner": {"delta_f1": delta, "speedup_vs_torch_fp32": speed}, "stance": {"delta_macro_f1": 0.0},
                            "chosen": {"ner": {"backend": "onnx", "precision": "int8"}}}}

    rows = [row("torch", "fp32", 1.0, 0.0), row("torch", "int8", 2.3, -0.1), row("onnx", "int8", 2.4, -0.2),
            row("onnx", "fp32", 1.3, 0.0), row("auto", "auto", 9.9, 0.0, host="no native bf16 (KASHIF_CPU_BF16=0)")]
    assert (recommend(rows)["backend"], recommend(rows)["precision"]) == ("onnx", "int8")
    rows[2]["bundled"]["ner"]["delta_f1"] = -0.5  # past the bound
    assert (recommend(rows)["backend"], recommend(rows)["precision"]) == ("onnx", "fp32")
    assert _backend_row_name(rows[-1]) == "auto, no native bf16 (KASHIF_CPU_BF16=0) → onnx int8"


def test_the_int8_study_names_the_range_a_check_threshold_lies_in():
    from bench.int8_sensitivity import _separation

    def row(delta: float, check: float) -> dict:
        return {"delta_f1": delta, "check_agreement_own_texts": check}

    rows = {"reference": {"f1": 90.0}, "broken": row(-1.6, 0.911), "worse": row(-2.7, 0.87), "sound": row(-0.1, 0.947),
            "in between": row(-0.55, 0.959), "best": row(+0.2, 0.99)}
    line = _separation(rows, "ner", "f1")
    assert "at most 91.10%" in line and "at least 94.70%" in line and "Midway, to the nearest 0.5 %: 93.0%" in line
    rows["sound"] = row(-0.1, 0.90)  # a sound variant below a broken one: no threshold separates them
    assert "Midway" not in _separation(rows, "ner", "f1")
