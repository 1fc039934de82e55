"""The annotation loop end to end on the tiny models: `kashif score` writes
pre-annotations (Label Studio, Prodigy, CoNLL) → a person corrects the file
(fixes one label, deletes one span, adds one) → `kashif train` on it →
`kashif evaluate` on it; the corrections are what the training data holds.
Plus resuming a killed scorer in the new formats, and `kashif entities`' answer formats."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kashif.cli import main as kashif
from kashif.commands.score import run as score_main
from kashif.training.data import read_ner
from tests.support.score_fixtures import kill_when, manifest_shards, score_command, subprocess_env, write_format

TYPES = ("PERS", "LOC", "ORG", "MISC")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def docs(arabic_sentences) -> list[dict]:
    # Generated one-sentence news lines: words separated by single spaces.
    generated = [s for s in arabic_sentences if s.endswith("بيان رسمي .")]
    return [{"id": f"doc-{i}", "text": text} for i, text in enumerate(generated[::37][:6])]


def score(src: Path, out: Path, fmt: str, model: Path, *extra: str) -> str:
    code = score_main([str(src), "--output", str(out), "--output-format", fmt, "--id-field", "id", "--model", str(model), "-q", "--chunk-size", "2", *extra])
    assert code == 0
    return out.read_text(encoding="utf-8")


def word_tags(text: str, spans: list[tuple[int, int, str]]) -> list[str]:
    """BIO tags of the space-separated words of `text` (the test's own reckoning)."""
    tags, pos = [], 0
    for word in text.split(" "):
        start, end = pos, pos + len(word)
        tag = "O"
        for s, e, label in spans:
            if s <= start and end <= e:
                tag = ("B-" if s == start else "I-") + label
        tags.append(tag)
        pos = end + 1
    return tags


def person_edits(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """What an annotator does: delete the first span, fix the second one's label,
    and add a new span over the first word of the deleted one."""
    assert len(spans) >= 2, spans
    deleted, fixed = spans[0], spans[1]
    first_word_end = text.index(" ", deleted[0]) if " " in text[deleted[0] : deleted[1]] else deleted[1]
    new_label = next(t for t in TYPES if t != deleted[2])
    fixed_label = next(t for t in TYPES if t != fixed[2])
    return [(deleted[0], first_word_end, new_label), (fixed[0], fixed[1], fixed_label), *spans[2:]]


def train_and_evaluate(tmp_path: Path, data: Path, fmt: str, encoder: Path) -> tuple[dict, dict, str]:
    """`kashif train ner` (a few steps) then `kashif evaluate` on the same file: (train summary, report, evaluate's stdout)."""
    import contextlib
    import io

    model_dir = tmp_path / f"model-{fmt}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = kashif([
            "train", "ner", "--train", str(data), "--format", fmt, "--base-model", str(encoder), "--output", str(model_dir),
            "--max-steps", "2", "--batch-size", "4", "--learning-rate", "1e-3", "--warmup", "0", "--bf16", "off", "--logging-steps", "1", "--seed", "3",
        ])
    assert code == 0, out.getvalue()[-2000:]
    summary = json.loads(out.getvalue()[out.getvalue().index("{"):])
    assert (model_dir / "model.safetensors").is_file()
    report_path = tmp_path / f"report-{fmt}.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = kashif(["evaluate", "--ner-model", str(model_dir), "--data", str(data), "--format", fmt, "--output", str(report_path), "--precision", "fp32"])
    assert code == 0, out.getvalue()[-2000:]
    return summary, json.loads(report_path.read_text(encoding="utf-8")), out.getvalue()


def test_label_studio_loop(tmp_path, docs, tiny_bundle_dir, tiny_encoder_dir):
    src = write_format(docs, tmp_path, "jsonl")
    export = tmp_path / "tasks.json"
    tasks = json.loads(score(src, export, "label-studio", tiny_bundle_dir))
    assert [t["data"] for t in tasks] == [{"text": d["text"], "kashif_id": d["id"]} for d in docs]
    config = (tmp_path / "tasks.json.label-config.xml").read_text(encoding="utf-8")
    assert '<Labels name="label" toName="text">' in config and '<Text name="text" value="$text"' in config

    # The person: corrects task 0, skips task 1 in the UI (a cancelled annotation), leaves the rest to the model.
    predicted = [[(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in t["predictions"][0]["result"]] for t in tasks]
    edited = person_edits(docs[0]["text"], predicted[0])
    tasks[0]["id"], tasks[1]["id"] = 100, 101
    tasks[0]["annotations"] = [{"id": 1, "was_cancelled": False, "ground_truth": False, "result": [
        {"id": f"h{k}", "from_name": "label", "to_name": "text", "type": "labels", "origin": "manual",
         "value": {"start": s, "end": e, "text": docs[0]["text"][s:e], "labels": [label]}} for k, (s, e, label) in enumerate(edited)]}]
    tasks[1]["annotations"] = [{"id": 2, "was_cancelled": True, "result": []}]
    export.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")

    read_back = read_ner(export, fmt="label-studio")
    assert dict(read_back.skipped) == {"cancelled": 1}
    rows = read_back.dataset
    assert rows["tokens"] == [d["text"].split(" ") for i, d in enumerate(docs) if i != 1]
    assert rows["tags"][0] == word_tags(docs[0]["text"], edited) != word_tags(docs[0]["text"], predicted[0])
    assert rows["tags"][1:] == [word_tags(d["text"], p) for d, p in list(zip(docs, predicted))[2:]]  # predictions as the fallback

    summary, report, printed = train_and_evaluate(tmp_path, export, "label-studio", tiny_encoder_dir)
    assert summary["skipped"] == {"train": {"cancelled": 1}}
    assert report["examples"] == len(docs) - 1 and report["skipped"] == {"cancelled": 1}
    assert "records skipped: 1 (cancelled 1)" in printed


def test_prodigy_loop(tmp_path, docs, tiny_bundle_dir, tiny_encoder_dir):
    src = write_format(docs, tmp_path, "jsonl")
    export = tmp_path / "pre.jsonl"
    records = [json.loads(line) for line in score(src, export, "prodigy", tiny_bundle_dir).splitlines()]
    assert [(r["text"], r["meta"]) for r in records] == [(d["text"], {"id": d["id"]}) for d in docs]
    for r in records:
        assert [t["text"] for t in r["tokens"]] == r["text"].split(" ")
        for s in r["spans"]:
            assert r["tokens"][s["token_start"]]["start"] == s["start"] and r["tokens"][s["token_end"]]["end"] == s["end"]

    predicted = [[(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in records]
    edited = person_edits(docs[0]["text"], predicted[0])
    starts = {t["start"]: t["id"] for t in records[0]["tokens"]}
    ends = {t["end"]: t["id"] for t in records[0]["tokens"]}
    records[0]["spans"] = [{"start": s, "end": e, "label": label, "token_start": starts[s], "token_end": ends[e]} for s, e, label in edited]
    for r in records:
        r["answer"] = "accept"
    records[1]["answer"] = "reject"
    records[2]["answer"] = "ignore"
    export.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")

    read_back = read_ner(export, fmt="prodigy")
    assert dict(read_back.skipped) == {"reject": 1, "ignore": 1}
    assert read_back.dataset["tags"][0] == word_tags(docs[0]["text"], edited)
    assert read_back.dataset["tokens"] == [d["text"].split(" ") for i, d in enumerate(docs) if i not in (1, 2)]

    summary, report, printed = train_and_evaluate(tmp_path, export, "prodigy", tiny_encoder_dir)
    assert summary["skipped"] == {"train": {"ignore": 1, "reject": 1}}
    assert report["examples"] == len(docs) - 2 and "records skipped: 2 (ignore 1, reject 1)" in printed


def test_conll_loop(tmp_path, docs, tiny_bundle_dir, tiny_encoder_dir):
    src = write_format(docs, tmp_path, "jsonl")
    export = tmp_path / "pre.conll"
    blocks = score(src, export, "conll", tiny_bundle_dir).split("-DOCSTART- -X- -X- O\n\n")[1:]
    assert len(blocks) == len(docs)
    lines = [block.strip("\n").split("\n") for block in blocks]
    assert [[line.split(" ")[0] for line in block] for block in lines] == [d["text"].split(" ") for d in docs]

    # Tags back to spans, edit as a person would, spans back to tags: the file a CoNLL user hands in.
    text = docs[0]["text"]
    words = text.split(" ")
    offsets = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
    predicted: list[tuple[int, int, str]] = []
    for i, line in enumerate(lines[0]):
        tag = line.split(" ")[1]
        if tag.startswith("B-"):
            predicted.append((offsets[i], offsets[i] + len(words[i]), tag[2:]))
        elif tag.startswith("I-"):
            s, _, label = predicted[-1]
            predicted[-1] = (s, offsets[i] + len(words[i]), label)
    assert word_tags(text, predicted) == [line.split(" ")[1] for line in lines[0]]
    edited = person_edits(text, predicted)
    lines[0] = [f"{w} {t}" for w, t in zip(words, word_tags(text, edited))]
    export.write_text("".join("-DOCSTART- -X- -X- O\n\n" + "\n".join(block) + "\n\n" for block in lines), encoding="utf-8")

    read_back = read_ner(export, fmt="conll")
    assert read_back.dataset["tags"][0] == word_tags(text, edited)
    assert read_back.dataset["tokens"] == [d["text"].split(" ") for d in docs]
    summary, report, _ = train_and_evaluate(tmp_path, export, "conll", tiny_encoder_dir)
    assert "skipped" not in summary and report["examples"] == len(docs)


def test_annotation_formats_refuse_stance_and_need_a_format_for_odd_names(tmp_path, docs, tiny_bundle_dir, capsys):
    src = write_format(docs, tmp_path, "jsonl")
    base = [str(src), "--model", str(tiny_bundle_dir), "-q"]
    assert score_main([*base, "--output", str(tmp_path / "x.json")]) == 2
    assert "name its format with --output-format" in capsys.readouterr().err
    assert score_main([*base, "--output", str(tmp_path / "x.json"), "--output-format", "label-studio", "--tasks", "entities,stance"]) == 2
    assert "holds entities only" in capsys.readouterr().err
    assert score_main([*base, "--output", str(tmp_path / "x.json"), "--output-format", "jsonl"]) == 2
    assert "needs an output ending in .jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("fmt, name", [("label-studio", "out.json"), ("prodigy", "out.jsonl"), ("conll", "out.conll.gz")])
def test_killed_scorer_resumes_in_annotation_formats(tmp_path, arabic_sentences, tiny_bundle_dir, fmt, name, capsys):
    rows = 60
    docs = [{"id": f"d{i}", "text": arabic_sentences[i % len(arabic_sentences)]} for i in range(rows)]
    docs[7]["text"] = None  # refused: goes to the errors file, exactly once
    src = write_format(docs, tmp_path, "jsonl")
    args = ["--id-field", "id", "--chunk-size", "10", "--model", str(tiny_bundle_dir), "-q"]
    expected = tmp_path / ("expected-" + name)
    assert score_main([str(src), "--output", str(expected), *args, "--output-format", fmt]) == 1

    out = tmp_path / name
    parts = out.with_name(out.name + ".parts")
    # kill -9 once two chunks are committed (each commit sleeps, so that it lands mid-run)
    kill_when(score_command(src, "--output", out, *args, "--output-format", fmt, commit_delay_ms=300), subprocess_env(),
              lambda: manifest_shards(parts) >= 2, timeout=300)
    assert not out.exists() and 2 <= manifest_shards(parts) < rows // 10
    capsys.readouterr()

    # Another output format on the same parts directory is refused, and leaves it as it was.
    other = "prodigy" if fmt != "prodigy" else "label-studio"
    assert score_main([str(src), "--output", str(out), *args, "--output-format", other]) == 2
    assert "holds a partial run" in capsys.readouterr().err
    assert score_main([str(src), "--output", str(out), *args, "--output-format", fmt]) == 1  # the same command again
    assert "resumed after" in capsys.readouterr().err
    import gzip

    read = (lambda p: gzip.decompress(p.read_bytes())) if name.endswith(".gz") else (lambda p: p.read_bytes())
    assert read(out) == read(expected)
    assert (tmp_path / (name + ".errors.jsonl")).read_bytes() == (tmp_path / ("expected-" + name + ".errors.jsonl")).read_bytes()
    assert not parts.exists()


def test_kashif_entities_answer_formats_and_filters(tiny_ner_dir, capsys):
    text = "زار محمد علي القاهرة يوم الخميس ممثلين عن وزارة الخارجية ، وفق بيان رسمي ."
    base = [text, "--ner-model", str(tiny_ner_dir), "--precision", "fp32"]

    def entities(*extra: str):
        assert kashif(["entities", *base, *extra]) == 0
        return json.loads(capsys.readouterr().out)

    everything = entities()["entities"]
    assert everything, "the tiny model finds entities in this text"
    hf = entities("--format", "hf")
    assert hf == [{"entity_group": e["label"], "score": e["score"], "word": e["text"], "start": e["start"], "end": e["end"]} for e in everything]
    assert all(text[h["start"] : h["end"]] == h["word"] for h in hf)
    label = everything[0]["label"]
    shown = entities("--format", "displacy", "--labels", label)
    assert shown == {"text": text, "ents": [{"start": e["start"], "end": e["end"], "label": label} for e in everything if e["label"] == label], "title": None}
    cut = sorted(e["score"] for e in everything)[len(everything) // 2]
    assert entities("--min-score", str(cut))["entities"] == [e for e in everything if e["score"] >= cut]
    with pytest.raises(SystemExit):
        kashif(["entities", *base, "--min-score", "2"])
    assert "not between 0 and 1" in capsys.readouterr().err
