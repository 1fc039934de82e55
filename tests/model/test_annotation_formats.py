"""Annotation-tool files in and out (model.annotation_formats, through training.data), and answer shapes."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kashif.model.annotation_formats import (
    LabeledSpan,
    conll_document,
    label_studio_config,
    label_studio_task,
    looks_like_label_studio,
    prodigy_task,
    read_label_studio,
    tag_sentences,
)
from kashif.model.answer_formats import answer_entities, filter_entities
from kashif.model.types import Entity
from kashif.training.data import DataError, load_ner, read_ner
from tests.support import FIXTURES

TEXT = "زار محمد علي القاهرة. ثم التقى د. سارة خليل في بيروت"
#       0   4    9   13     20 22 25   31 34   39   44 47


def span(text: str, word: str, label: str, nth: int = 0) -> dict:
    start = [m.start() for m in re.finditer(re.escape(word), text)][nth]
    return {"start": start, "end": start + len(word), "label": label}


def ls_region(text: str, start: int, end: int, label: str, rid: str = "r") -> dict:
    return {"id": rid, "from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}


def write_ls(path: Path, tasks: list[dict]) -> Path:
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return path


def write_prodigy(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


# ---- spans onto the Predictor's words ---------------------------------------
def test_spans_become_bio_over_sentences_and_a_bridged_sentence_stays_whole():
    spans = [LabeledSpan(**span(TEXT, "محمد علي", "PERS")), LabeledSpan(**span(TEXT, "القاهرة", "LOC")),
             LabeledSpan(**span(TEXT, "د. سارة خليل", "PERS")), LabeledSpan(**span(TEXT, "بيروت", "LOC"))]
    sentences = tag_sentences(TEXT, spans, "doc")
    words = [[TEXT[s:e] for s, e in sent.words] for sent in sentences]
    # "د." ends a sentence for the splitter, but one span bridges it: kept as one example.
    assert words == [["زار", "محمد", "علي", "القاهرة", "."], ["ثم", "التقى", "د", ".", "سارة", "خليل", "في", "بيروت"]]
    assert sentences[0].tags == ["O", "B-PERS", "I-PERS", "B-LOC", "O"]
    assert sentences[1].tags == ["O", "O", "B-PERS", "I-PERS", "I-PERS", "I-PERS", "O", "B-LOC"]


def test_surrounding_spaces_in_a_selection_are_fine():
    s = span(TEXT, "القاهرة", "LOC")
    tags = tag_sentences(TEXT, [LabeledSpan(s["start"] - 1, s["end"], "LOC")], "doc")[0].tags
    assert tags == ["O", "O", "O", "B-LOC", "O"]


@pytest.mark.parametrize(
    "spans, message",
    [
        ([(4, 7, "PERS")], r"doc: span 4:7 'محم' \(PERS\) ends inside the word 'محمد' \(4:8\)"),
        ([(6, 12, "PERS")], r"doc: span 6:12 .* starts inside the word 'محمد'"),
        ([(4, 12, "PERS"), (9, 12, "LOC")], r"doc: span 9:12 'علي' \(LOC\) overlaps span 4:12 'محمد علي' \(PERS\)"),
        ([(3, 4, "PERS")], r"doc: span 3:4 ' ' \(PERS\) covers no word"),
        ([(40, 99, "LOC")], r"doc: span 40:99 \(LOC\) is outside the text"),
    ],
)
def test_bad_spans_fail_with_one_line(spans, message):
    with pytest.raises(ValueError, match=message) as info:
        tag_sentences(TEXT, [LabeledSpan(*s) for s in spans], "doc")
    assert "\n" not in str(info.value)


# ---- Label Studio -----------------------------------------------------------
def test_label_studio_task_and_config_follow_the_import_format():
    ents = [{"text": "محمد علي", "label": "PERS", "start": 4, "end": 12, "score": 0.8}, {"text": "القاهرة", "label": "LOC", "start": 13, "end": 20, "score": 0.6}]
    task = label_studio_task(TEXT, ents, model_version="kashif test", doc_id="a1")
    assert task["data"] == {"text": TEXT, "kashif_id": "a1"}
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == "kashif test" and prediction["score"] == 0.6
    assert [r["value"] for r in prediction["result"]] == [
        {"start": 4, "end": 12, "text": "محمد علي", "labels": ["PERS"]}, {"start": 13, "end": 20, "text": "القاهرة", "labels": ["LOC"]}]
    assert {(r["from_name"], r["to_name"], r["type"]) for r in prediction["result"]} == {("label", "text", "labels")}
    assert len({r["id"] for r in prediction["result"]}) == 2
    root = ET.fromstring(label_studio_config(["LOC", "PERS"]))
    labels = root.find("Labels")
    assert labels.attrib == {"name": "label", "toName": "text"} and [l.attrib["value"] for l in labels] == ["LOC", "PERS"]
    assert root.find(".//Text").attrib["value"] == "$text" and root.find(".//Text").attrib["name"] == "text"


def test_label_studio_import_prefers_annotations_and_counts_skipped(tmp_path):
    pred = [ls_region(TEXT, 4, 12, "ORG")]
    tasks = [
        {"id": 1, "data": {"text": TEXT}, "annotations": [{"id": 5, "result": [ls_region(TEXT, 4, 12, "PERS")], "was_cancelled": False}], "predictions": [{"result": pred}]},
        {"id": 2, "data": {"text": TEXT}, "predictions": [{"result": pred}]},  # nobody annotated: the prediction
        {"id": 3, "data": {"text": TEXT}, "annotations": [{"id": 6, "result": [], "was_cancelled": True}]},
        {"id": 4, "data": {"text": TEXT}},
        {"id": 5, "data": {"text": "  "}, "predictions": [{"result": []}]},
        {"id": 6, "data": {"text": TEXT}, "annotations": [{"id": 7, "result": [], "was_cancelled": True},
                                                           {"id": 8, "result": [ls_region(TEXT, 13, 20, "LOC"), {"type": "relation", "from_id": "a", "to_id": "b"}]}]},
    ]
    imported = read_label_studio(write_ls(tmp_path / "export.json", tasks))
    assert [d.where.split(": ", 1)[1] for d in imported.docs] == ["task 0 (id 1)", "task 1 (id 2)", "task 5 (id 6)"]
    assert [d.spans for d in imported.docs] == [[LabeledSpan(4, 12, "PERS")], [LabeledSpan(4, 12, "ORG")], [LabeledSpan(13, 20, "LOC")]]
    assert dict(imported.skipped) == {"cancelled": 1, "unlabeled": 1, "blank text": 1}
    data = read_ner(tmp_path / "export.json")  # a .json list of tasks is recognised
    assert data.skipped == imported.skipped
    assert data.dataset["tags"][0] == ["O", "B-PERS", "I-PERS", "O", "O"]


LS_EXPORT = FIXTURES / "label_studio" / "export-ls-1.23.2.json"


def test_a_real_label_studio_export_reads_back():
    # Made by Label Studio 1.23.2 (docs/label_studio_screenshot.py --export, then annotations through its API):
    # our tasks.json for six seed paragraphs imported with predictions; task 1 annotated twice (the later one
    # relabels المكسيك as ORG), task 2 skipped, task 3 a ground-truth correction, tasks 4-6 untouched.
    # Its JSON export lists predictions by id only, so untouched tasks have nothing to read: "unlabeled".
    imported = read_label_studio(LS_EXPORT)
    assert [d.where.split(": ", 1)[1] for d in imported.docs] == ["task 0 (id 1)", "task 2 (id 3)"]
    assert [(s.label, imported.docs[0].text[s.start:s.end]) for s in imported.docs[0].spans] == [
        ("ORG", "المكسيك"), ("PERS", "دونالد ترمب"), ("LOC", "المكسيك")]
    assert [(s.label, imported.docs[1].text[s.start:s.end]) for s in imported.docs[1].spans] == [
        ("MISC", "منصة"), ("ORG", "إكس"), ("LOC", "الولايات المتحدة")]
    assert dict(imported.skipped) == {"cancelled": 1, "unlabeled": 3}
    assert read_ner(LS_EXPORT).skipped == imported.skipped  # recognised without --format


def test_an_export_whose_first_task_is_long_is_still_recognised(tmp_path):
    # Label Studio writes "data" after "annotations" (each with a copy of its prediction): with a few
    # annotators or many entities the first task's text starts well past the first kilobytes.
    tasks = json.loads(LS_EXPORT.read_text(encoding="utf-8"))
    tasks[0]["annotations"] = tasks[0]["annotations"] * 4
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    assert path.read_text(encoding="utf-8").find('"data"') > 8192
    assert looks_like_label_studio(path)
    assert read_ner(path).skipped == {"cancelled": 1, "unlabeled": 3}
    for other in ('[{"text": "نص", "spans": []}]', "[]", '{"data": {}}', "[1, 2]", '[{"data": '):
        path.write_text(other, encoding="utf-8")
        assert not looks_like_label_studio(path), other


@pytest.mark.parametrize(
    "task, message",
    [
        ({"id": 9, "data": {"text": TEXT}, "annotations": [{"result": [ls_region(TEXT, 5, 12, "PERS", "abc")]}]},
         r"export.json: task 0 \(id 9\): region 0 \(abc\): span 5:12 'حمد علي' \(PERS\) starts inside the word 'محمد' \(4:8\)$"),
        ({"id": 9, "data": {"text": TEXT}, "annotations": [{"result": [ls_region(TEXT, 4, 12, "PERS"), ls_region(TEXT, 9, 20, "LOC")]}]},
         r"export.json: task 0 \(id 9\): region 1 \(r\): span 9:20 'علي القاهرة' \(LOC\) overlaps span 4:12 'محمد علي' \(PERS\)$"),
        ({"id": 9, "data": {"txt": TEXT}, "predictions": [{"result": []}]}, r"export.json: task 0 \(id 9\): no text \('text' is missing\)$"),
        ({"data": {"text": 42}}, r"export.json: task 0: no text \('text' is a int, not a string\)$"),
        ({"id": 9, "data": {"text": TEXT}, "annotations": [{"result": [ls_region(TEXT, 4, 12, "PERS") | {"value": {"start": 4, "end": 12, "labels": ["A", "B"]}}]}]},
         r"region 0 \(r\): needs exactly one label, got \['A', 'B'\]$"),
        ({"id": 9, "data": {"text": TEXT}, "annotations": [{"result": [ls_region(TEXT, 4, 12, "PERS") | {"value": {"start": 4, "end": 12, "text": "xx", "labels": ["PERS"]}}]}]},
         r"region 0 \(r\): says 'xx' but the text at 4:12 is 'محمد علي'$"),
    ],
)
def test_label_studio_import_errors_name_the_task(tmp_path, task, message):
    path = write_ls(tmp_path / "export.json", [task])
    with pytest.raises(DataError, match=message) as info:
        load_ner(path, fmt="label-studio")
    assert "\n" not in str(info.value)


def test_unknown_label_names_the_record(tmp_path):
    path = write_ls(tmp_path / "export.json", [{"id": 3, "data": {"text": TEXT}, "annotations": [{"result": [ls_region(TEXT, 13, 20, "CITY")]}]}])
    with pytest.raises(DataError, match=r"export.json: task 0 \(id 3\): unknown tag 'B-CITY'") as info:
        load_ner(path, fmt="label-studio", labels=["O", "B-LOC", "I-LOC"])
    assert "\n" not in str(info.value)


# ---- Prodigy ----------------------------------------------------------------
def test_prodigy_task_tokens_and_spans():
    task = prodigy_task(TEXT, [{"start": 4, "end": 12, "label": "PERS"}], doc_id=7)
    assert task["text"] == TEXT and task["meta"] == {"id": 7}
    assert task["tokens"][:3] == [{"text": "زار", "start": 0, "end": 3, "id": 0, "ws": True}, {"text": "محمد", "start": 4, "end": 8, "id": 1, "ws": True},
                                  {"text": "علي", "start": 9, "end": 12, "id": 2, "ws": True}]
    assert task["tokens"][3]["ws"] is False  # "القاهرة" is followed by "."
    assert task["spans"] == [{"start": 4, "end": 12, "label": "PERS", "token_start": 1, "token_end": 2}]
    for token in task["tokens"]:
        assert TEXT[token["start"] : token["end"]] == token["text"]


def test_prodigy_import_skips_rejected_and_ignored(tmp_path):
    records = [
        {"text": TEXT, "spans": [span(TEXT, "القاهرة", "LOC")], "answer": "accept"},
        {"text": TEXT, "spans": [], "answer": "reject"},
        {"text": TEXT, "spans": [], "answer": "ignore"},
        {"text": TEXT, "spans": [span(TEXT, "بيروت", "LOC")], "answer": "ignore"},
        {"text": TEXT, "spans": [span(TEXT, "محمد علي", "PERS")]},
    ]
    data = read_ner(write_prodigy(tmp_path / "db.jsonl", records), fmt="prodigy")
    assert dict(data.skipped) == {"reject": 1, "ignore": 2}
    assert len(data.dataset) == 6  # two accepted records, three sentences each
    assert data.dataset["tags"][0] == ["O", "O", "O", "B-LOC", "O"] and data.dataset["tags"][3] == ["O", "B-PERS", "I-PERS", "O", "O"]


@pytest.mark.parametrize(
    "record, message",
    [
        ({"text": TEXT, "spans": [{"start": 4, "end": 7, "label": "PERS"}], "meta": {"id": "x1"}}, r"db.jsonl:2 \(id x1\): span 4:7 'محم' \(PERS\) ends inside the word 'محمد'"),
        ({"text": TEXT, "spans": [span(TEXT, "محمد علي", "PERS"), span(TEXT, "علي", "LOC")]}, r"db.jsonl:2: span 9:12 .* overlaps span 4:12"),
        ({"spans": []}, r"db.jsonl:2: no text \('text' is missing\)"),
        ({"text": TEXT, "spans": [{"start": "4", "end": 8, "label": "PERS"}]}, r"db.jsonl:2: span 0: needs integer 'start' and 'end'"),
    ],
)
def test_prodigy_import_errors_name_the_line(tmp_path, record, message):
    path = write_prodigy(tmp_path / "db.jsonl", [{"text": TEXT, "spans": []}, record])
    with pytest.raises(DataError, match=message) as info:
        load_ner(path, fmt="prodigy")
    assert "\n" not in str(info.value)


# ---- CoNLL ------------------------------------------------------------------
def test_conll_document_reads_back_as_the_same_sentences(tmp_path):
    ents = [span(TEXT, "محمد علي", "PERS"), span(TEXT, "بيروت", "LOC")]
    block = conll_document(TEXT, ents)
    assert block.startswith("-DOCSTART- -X- -X- O\n\nزار O\nمحمد B-PERS\nعلي I-PERS\n")
    path = tmp_path / "out.conll"
    path.write_text(block + conll_document("قال عمر .", []), encoding="utf-8")
    ds = load_ner(path, fmt="conll")
    assert ds["tokens"] == [["زار", "محمد", "علي", "القاهرة", "."], ["ثم", "التقى", "د", "."], ["سارة", "خليل", "في", "بيروت"], ["قال", "عمر", "."]]
    assert ds["tags"][0] == ["O", "B-PERS", "I-PERS", "O", "O"] and ds["tags"][2] == ["O", "O", "O", "B-LOC"]


# ---- answer shapes ----------------------------------------------------------
ENTS = [Entity("محمد علي", "PERS", 4, 12, 0.9), Entity("القاهرة", "LOC", 13, 20, 0.4)]


def test_answer_shapes_and_filters():
    assert answer_entities(TEXT, ENTS) == {"entities": [e.to_dict() for e in ENTS]}
    assert answer_entities(TEXT, ENTS, "hf") == [
        {"entity_group": "PERS", "score": 0.9, "word": "محمد علي", "start": 4, "end": 12},
        {"entity_group": "LOC", "score": 0.4, "word": "القاهرة", "start": 13, "end": 20}]
    assert answer_entities(TEXT, ENTS, "displacy", labels=["LOC"]) == {"text": TEXT, "ents": [{"start": 13, "end": 20, "label": "LOC"}], "title": None}
    assert filter_entities(ENTS, min_score=0.5) == ENTS[:1]
    assert filter_entities(ENTS, labels=["ORG"]) == []
    with pytest.raises(ValueError, match="unknown answer format 'xml'"):
        answer_entities(TEXT, ENTS, "xml")
