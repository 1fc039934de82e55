"""Metrics against hand-computed values, and `kashif evaluate` through the shared Predictor."""
from __future__ import annotations

import json

import pytest

from kashif.model.types import Entity
from kashif.cli import main
from kashif.training.evaluate import entities_to_tags, guess_task, join_tokens
from kashif.training.metrics import format_ner_table, format_stance_table, ner_metrics, stance_metrics
from tests.support import FIXTURES

FIX = FIXTURES / "training"

GOLD = [
    ["B-PERS", "I-PERS", "O", "B-LOC", "O"],
    ["B-ORG", "I-ORG", "O", "B-PERS"],
    ["O", "B-LOC", "I-LOC", "O"],
]
PRED = [
    ["B-PERS", "I-PERS", "O", "B-ORG", "O"],  # PERS right, LOC missed, ORG spurious
    ["B-ORG", "O", "O", "B-PERS"],  # ORG with the wrong boundary, PERS right
    ["O", "I-LOC", "I-LOC", "O"],  # default (non-strict) seqeval: I- after O opens a LOC, which matches
]


def test_ner_metrics_hand_computed():
    m = ner_metrics(GOLD, PRED)
    # gold: PERS 2, LOC 2, ORG 1; predicted: PERS 2, LOC 1, ORG 2; correct: PERS 2, LOC 1.
    assert m["per_type"]["PERS"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert m["per_type"]["LOC"]["precision"] == 1.0
    assert m["per_type"]["LOC"]["recall"] == 0.5
    assert m["per_type"]["LOC"]["f1"] == pytest.approx(2 / 3)
    assert m["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert (m["precision"], m["recall"]) == (pytest.approx(0.6), pytest.approx(0.6))
    assert m["f1"] == pytest.approx(0.6)
    assert m["macro_precision"] == pytest.approx(2 / 3)
    assert m["macro_recall"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx(5 / 9)
    assert m["support"] == 5
    assert m["accuracy"] == pytest.approx(10 / 13)
    conf = m["confusion"]
    assert conf["labels"] == ["O", "LOC", "ORG", "PERS"]
    # gold LOC tokens: one predicted ORG (sentence 1), two predicted LOC (sentence 3)
    assert conf["matrix"][1] == [0, 2, 1, 0]
    assert conf["matrix"][2] == [1, 0, 1, 0]  # gold ORG: I-ORG predicted O
    assert sum(map(sum, conf["matrix"])) == 13
    table = format_ner_table(m)
    assert "micro avg" in table and "0.6000" in table


def test_ner_metrics_rejects_misaligned_input():
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        ner_metrics([["O", "O"]], [["O"]])


def test_stance_metrics_hand_computed():
    gold = ["agree", "agree", "agree", "disagree", "disagree", "other"]
    pred = ["agree", "disagree", "agree", "disagree", "agree", "disagree"]
    m = stance_metrics(gold, pred, ["agree", "disagree", "other"])
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["per_class"]["agree"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["agree"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["disagree"]["precision"] == pytest.approx(1 / 3)
    assert m["per_class"]["disagree"]["recall"] == pytest.approx(1 / 2)
    assert m["per_class"]["disagree"]["f1"] == pytest.approx(0.4)
    assert m["per_class"]["other"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.4) / 3)
    assert m["macro_precision"] == pytest.approx(1 / 3)
    assert m["macro_recall"] == pytest.approx(7 / 18)
    assert m["confusion"] == {"labels": ["agree", "disagree", "other"], "matrix": [[2, 1, 0], [1, 1, 0], [0, 1, 0]]}
    assert "macro avg" in format_stance_table(m)


def test_join_tokens_and_span_mapping():
    text, spans = join_tokens(["زار", "محمد", "بن", "سلمان", "الرياض", "."])
    assert text == "زار محمد بن سلمان الرياض ."
    assert [text[s:e] for s, e in spans] == ["زار", "محمد", "بن", "سلمان", "الرياض", "."]
    entities = [
        Entity(text="محمد بن سلمان", label="PERS", start=4, end=17, score=0.9),
        Entity(text="الرياض", label="LOC", start=18, end=24, score=0.8),
    ]
    assert entities_to_tags(spans, entities) == ["O", "B-PERS", "I-PERS", "I-PERS", "B-LOC", "O"]
    # An entity covering part of a token still tags that token.
    assert entities_to_tags(spans, [Entity(text="حمد", label="PERS", start=5, end=8, score=1.0)]) == ["O", "B-PERS", "O", "O", "O", "O"]


def test_guess_task():
    assert guess_task(str(FIX / "ner_dev.txt")) == "ner"
    assert guess_task(str(FIX / "stance_dev.csv")) == "stance"
    assert guess_task(str(FIX / "caraner_sample.csv")) == "ner"
    assert guess_task(str(FIX / "ner_tokens.jsonl")) == "ner"
    assert guess_task(str(FIX / "stance.jsonl")) == "stance"
    assert guess_task(str(FIX / "baly")) == "stance"


def test_evaluate_ner_cli_writes_json(tiny_ner_dir, tmp_path, capsys):
    out = tmp_path / "report.json"
    code = main(["evaluate", "--model", str(tiny_ner_dir), "--data", str(FIX / "ner_dev.txt"), "--output", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "micro avg" in captured.out and "macro avg" in captured.out
    report = json.loads(out.read_text())
    assert report["task"] == "ner" and report["examples"] == 12
    assert report["data"]["sha256"] and report["model"] == str(tiny_ner_dir)
    m = report["metrics"]
    assert m["support"] == 31  # gold entities in the dev fixture
    assert 0.0 <= m["f1"] <= 1.0 and set(m["per_type"]) <= {"PERS", "LOC", "ORG", "MISC"}
    assert sum(map(sum, m["confusion"]["matrix"])) == sum(len(line.split()) > 0 for line in (FIX / "ner_dev.txt").read_text().splitlines())


def test_evaluate_stance_cli_with_bundle(tiny_bundle_dir, capsys):
    code = main(["evaluate", "--model", str(tiny_bundle_dir), "--data", str(FIX / "stance_dev.csv")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "confusion (rows: gold, columns: predicted)" in captured.out
    assert "12 examples" in captured.out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "missing.txt"], "missing.txt: no such file or directory"),
        (["--data", str(FIX / "stance_dev.csv"), "--task", "stance"], "stance"),
        (["--data", str(FIX / "ner_tokens.jsonl")], "unknown tag 'B-PER'"),
    ],
)
def test_evaluate_errors_are_one_line(tiny_ner_dir, capsys, args, message):
    code = main(["evaluate", "--ner-model", str(tiny_ner_dir), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("kashif evaluate: error: ")


def test_stance_metrics_f1_of_agree_disagree_per_target():
    gold = ["agree", "disagree", "other", "agree", "agree", "disagree"]
    pred = ["agree", "agree", "other", "agree", "disagree", "disagree"]
    targets = ["T1", "T1", "T1", "T2", "T2", "T2"]
    m = stance_metrics(gold, pred, ["agree", "disagree", "other"], targets=targets)
    # overall: agree P 2/3 R 2/3; disagree P 1/2 R 1/2
    assert m["f1_agree_disagree"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    t1, t2 = m["by_target"]["T1"], m["by_target"]["T2"]
    assert t1["support"] == 3 and t2["support"] == 3
    # T1: agree P 1/2 R 1 → 2/3, disagree 0; T2: agree P 1 R 1/2 → 2/3, disagree P 1/2 R 1 → 2/3
    assert t1["f1_agree_disagree"] == pytest.approx(1 / 3)
    assert t2["f1_agree_disagree"] == pytest.approx(2 / 3)
    assert m["f1_agree_disagree_by_target"] == pytest.approx(0.5)
    assert "target T1: 3 examples" in format_stance_table(m)


def test_stance_metrics_skip_targets_when_they_are_claims():
    gold = ["agree"] * 30
    m = stance_metrics(gold, gold, ["agree", "disagree", "other"], targets=[f"claim {i}" for i in range(30)])
    assert "by_target" not in m and m["f1_agree_disagree"] == pytest.approx(0.5)  # disagree has no support: F1 0


MAWQIF_CSV = """\ufeffID,text,target,stance,sentiment
1,اللقاح آمن وأنصح الجميع به,Covid Vaccine,Favor,Positive
2,لن آخذ اللقاح أبدا,Covid Vaccine,Against,Negative
3,الخدمات الرقمية وفرت علينا الوقت,Digital Transformation,Favor,Positive
4,الجو حار اليوم,Women empowerment,None,Neutral
"""


def test_load_stance_maps_mawqif_labels_and_topics(tmp_path):
    from kashif.training.data import load_stance
    from kashif.training.stance_maps import parse_label_map, parse_target_map

    path = tmp_path / "mawqif.csv"
    path.write_text(MAWQIF_CSV, encoding="utf-8")
    ds = load_stance(path, labels=["agree", "disagree", "other"], label_map=parse_label_map("mawqif"),
                     target_map=parse_target_map("mawqif"))
    assert ds["label"] == ["agree", "disagree", "agree", "other"]
    assert ds["target"] == ["لقاح كورونا", "لقاح كورونا", "التحول الرقمي", "تمكين المرأة"]


def test_unmapped_labels_are_refused_with_the_row(tmp_path):
    from kashif.training.data import DataError, load_stance

    path = tmp_path / "mawqif.csv"
    path.write_text(MAWQIF_CSV, encoding="utf-8")
    with pytest.raises(DataError, match=r"mawqif.csv:2: unknown label 'Favor'"):
        load_stance(path, labels=["agree", "disagree", "other"])


def test_evaluate_a_mawqif_file_with_its_maps(tiny_stance_dir, tmp_path, capsys):
    path = tmp_path / "mawqif.csv"
    path.write_text(MAWQIF_CSV, encoding="utf-8")
    out = tmp_path / "report.json"
    code = main(["evaluate", "--stance-model", str(tiny_stance_dir), "--data", str(path), "--label-map", "mawqif",
                            "--target-map", "mawqif", "--output", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    m = json.loads(out.read_text())["metrics"]
    assert m["support"] == 4 and set(m["by_target"]) == {"لقاح كورونا", "التحول الرقمي", "تمكين المرأة"}
    assert "F1 of agree and disagree, averaged over targets" in captured.out


def test_evaluate_refuses_an_unknown_label_map(tiny_stance_dir, tmp_path, capsys):
    path = tmp_path / "mawqif.csv"
    path.write_text(MAWQIF_CSV, encoding="utf-8")
    code = main(["evaluate", "--stance-model", str(tiny_stance_dir), "--data", str(path), "--label-map", "semeval"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("kashif evaluate: error: label map: 'semeval' is neither FROM=TO")


def test_training_reads_a_mawqif_file_through_its_maps(tmp_path):
    from kashif.training.config import TrainConfig
    from kashif.training.finetune import prepare_data

    path = tmp_path / "mawqif.csv"
    path.write_text(MAWQIF_CSV, encoding="utf-8")
    config = TrainConfig(task="stance", train=str(path), base_model="unused", output=str(tmp_path / "out"),
                         label_map="mawqif", target_map="mawqif").validate()
    data = prepare_data(config)
    assert data.labels == ["agree", "disagree", "other"]
    assert set(data.train["target"]) == {"لقاح كورونا", "التحول الرقمي", "تمكين المرأة"}
