"""`kashif score`: formats, field options, errors file, order and ids, outputs."""
from __future__ import annotations

import pytest

from kashif.commands.score import run as main
from kashif.serve.batch.readers import InputError, csv_options, load_dataset_dir
from kashif.serve.batch.shards import ShardStore
from tests.support.score_fixtures import SCORE_FIXTURES, read_jsonl, read_parquet, write_format


@pytest.fixture(scope="module")
def docs(arabic_sentences) -> list[dict]:
    picked = arabic_sentences[::9][:40]
    return [{"id": f"doc-{i}", "text": text, "claim": "الحكومة" if i % 2 else "التطبيع"} for i, text in enumerate(picked)]


@pytest.fixture
def score(tiny_bundle_dir, capsys):
    """Run `kashif score ... --model <tiny bundle> -q` in this process: (exit code, stderr)."""

    def run(*args) -> tuple[int, str]:
        code = main([*map(str, args), "--model", str(tiny_bundle_dir), "-q"])
        return code, capsys.readouterr().err

    return run


def test_jsonl_ids_order_and_errors_file(score, tmp_path):
    out = tmp_path / "out.jsonl"
    code, err = score(SCORE_FIXTURES / "docs.jsonl", "--output", out, "--id-field", "id", "--target-field", "claim", "--chunk-size", "3")
    assert code == 1, err  # some rows failed
    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["a1", "a2", "a3", "a4", "a5", "a6"]
    errors = read_jsonl(tmp_path / "out.jsonl.errors.jsonl")
    assert [(e["row"], e["id"]) for e in errors] == [(3, "bad-null"), (4, "bad-missing"), (5, None), (6, "bad-type")]
    reasons = [e["reason"] for e in errors]
    assert reasons[0] == "text field 'text' is null, not a string"
    assert reasons[1] == "missing text field 'text'"
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3] == "text field 'text' is list, not a string"
    assert "6 documents scored; 4 errors" in err
    assert not (tmp_path / "out.jsonl.parts").exists()


def test_records_carry_entities_with_offsets_and_stance(score, tmp_path, docs):
    src = write_format(docs, tmp_path, "jsonl")
    out = tmp_path / "out.jsonl"
    code, err = score(src, "--output", out, "--target", "أ", "--target", "ب", "--target-field", "claim")
    assert code == 0, err
    records = read_jsonl(out)
    assert [r["id"] for r in records] == list(range(len(docs)))  # default ids: row numbers
    assert set(records[0]) == {"id", "entities", "stance"}
    assert sum(len(r["entities"]) for r in records) > 0
    for doc, record in zip(docs, records):
        for e in record["entities"]:
            assert doc["text"][e["start"] : e["end"]] == e["text"]
            assert e["label"] in {"PERS", "LOC", "ORG", "MISC"}
        assert [s["target"] for s in record["stance"]] == ["أ", "ب", doc["claim"]]
        for s in record["stance"]:
            assert set(s) == {"target", "label", "scores", "truncated"}
            assert s["label"] in s["scores"] and abs(sum(s["scores"].values()) - 1) < 1e-3
    assert read_jsonl(tmp_path / "out.jsonl.errors.jsonl") == []


@pytest.mark.parametrize("fmt", ["jsonl.gz", "csv", "csv.gz", "tsv", "parquet", "txt", "txt.gz", "datasets"])
def test_every_input_format_gives_the_same_records(score, tmp_path, docs, fmt):
    base_out = tmp_path / "base.jsonl"
    assert score(write_format(docs, tmp_path / "base", "jsonl"), "--output", base_out, "--tasks", "entities")[0] == 0
    src = write_format(docs, tmp_path / "in", fmt)
    out = tmp_path / "out.jsonl"
    code, err = score(src, "--output", out, "--tasks", "entities", "--chunk-size", "8")
    assert code == 0, err
    assert read_jsonl(out) == read_jsonl(base_out)


def test_committed_csv_tsv_txt_fixtures(score, tmp_path):
    """Quoted cells with commas, quotes and newlines; TSV; CRLF and blank lines in text."""
    outs = {}
    for name in ("docs.csv", "docs.tsv"):
        out = tmp_path / f"{name}.jsonl"
        code, err = score(SCORE_FIXTURES / name, "--output", out, "--id-field", "id", "--target-field", "claim")
        assert code == 0, err
        outs[name] = read_jsonl(out)
        assert [r["id"] for r in outs[name]] == ["a1", "a2", "a3", "a4", "a5", "a6"]
        assert outs[name][3]["entities"] == []  # the empty document
    # the CSV keeps a3's newline, the TSV has a space there: every other row agrees
    assert [r for r in outs["docs.csv"] if r["id"] != "a3"] == [r for r in outs["docs.tsv"] if r["id"] != "a3"]
    out = tmp_path / "txt.jsonl"
    code, err = score(SCORE_FIXTURES / "docs.txt", "--output", out, "--target", "التطبيع")
    assert code == 0, err
    txt = read_jsonl(out)
    assert [r["id"] for r in txt] == [0, 1, 2, 3]  # the blank lines are not rows
    by_id = {r["id"]: r for r in outs["docs.csv"]}
    for row, fixture_id in zip(txt, ["a1", "a2", "a5", "a6"]):
        assert row["entities"] == by_id[fixture_id]["entities"]


def test_format_option_overrides_the_file_name(score, tmp_path, docs):
    src = write_format(docs[:5], tmp_path, "txt")
    renamed = src.rename(tmp_path / "docs.lines")
    out = tmp_path / "out.jsonl"
    code, err = score(renamed, "--format", "txt", "--output", out, "--tasks", "entities")
    assert code == 0, err
    assert len(read_jsonl(out)) == 5


def test_several_inputs_number_rows_across_files(score, tmp_path, docs):
    first = write_format(docs[:5], tmp_path / "one", "jsonl")
    second = write_format(docs[5:12], tmp_path / "two", "csv")
    out = tmp_path / "out.jsonl"
    code, err = score(first, second, "--output", out, "--tasks", "entities", "--chunk-size", "3")
    assert code == 0, err
    assert [r["id"] for r in read_jsonl(out)] == list(range(12))


def test_text_field_and_entities_only(score, tmp_path, docs):
    renamed = [{"body": d["text"], "n": i * 10} for i, d in enumerate(docs[:6])]
    src = write_format(renamed, tmp_path, "jsonl")
    out = tmp_path / "out.jsonl"
    code, err = score(src, "--output", out, "--text-field", "body", "--id-field", "n", "--tasks", "entities")
    assert code == 0, err
    records = read_jsonl(out)
    assert [r["id"] for r in records] == [0, 10, 20, 30, 40, 50]
    assert all(set(r) == {"id", "entities"} for r in records)


def test_missing_target_field_is_a_row_error(score, tmp_path, docs):
    rows = [dict(d) for d in docs[:4]]
    del rows[1]["claim"]
    rows[2]["claim"] = ["هدف", "آخر"]
    src = write_format(rows, tmp_path, "jsonl")
    out = tmp_path / "out.jsonl"
    code, _ = score(src, "--output", out, "--id-field", "id", "--target-field", "claim", "--tasks", "stance")
    assert code == 1
    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["doc-0", "doc-2", "doc-3"]
    assert [s["target"] for s in records[1]["stance"]] == ["هدف", "آخر"]
    assert read_jsonl(tmp_path / "out.jsonl.errors.jsonl") == [
        {"row": 1, "id": "doc-1", "reason": "target field 'claim' is null, not a string or a list of strings"}
    ]


def test_parquet_and_gzip_outputs_hold_the_jsonl_records(score, tmp_path, docs):
    src = write_format(docs[:10], tmp_path, "jsonl")
    args = ("--id-field", "id", "--target-field", "claim", "--chunk-size", "4")
    for name in ("out.jsonl", "out.jsonl.gz", "out.parquet"):
        code, err = score(src, "--output", tmp_path / name, *args)
        assert code == 0, err
    expected = read_jsonl(tmp_path / "out.jsonl")
    assert read_jsonl(tmp_path / "out.jsonl.gz") == expected
    assert read_parquet(tmp_path / "out.parquet") == expected


def test_errors_option_names_the_errors_file(score, tmp_path):
    errors = tmp_path / "refused.jsonl"
    code, _ = score(SCORE_FIXTURES / "docs.jsonl", "--output", tmp_path / "o.jsonl", "--errors", errors)
    assert code == 1
    assert len(read_jsonl(errors)) == 4
    assert not (tmp_path / "o.jsonl.errors.jsonl").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.jsonl", "--output", "{tmp}/o.jsonl"], "missing.jsonl: no such file"),
        (["{fixtures}/docs.jsonl", "--output", "{tmp}/o.csv"], "the output must end in .jsonl, .jsonl.gz or .parquet"),
        (["{fixtures}/docs.jsonl", "--output", "{tmp}/o.jsonl", "--tasks", "sentiment"], "--tasks takes entities, stance, classify"),
        (["{fixtures}/docs.jsonl", "--output", "{tmp}/o.jsonl", "--chunk-size", "0"], "--chunk-size must be at least 1"),
        (["{fixtures}/docs.jsonl", "--output", "{tmp}/nowhere/o.jsonl"], "no such directory"),
        (["{tmp}", "--output", "{tmp}/o.jsonl"], "not one written by datasets.save_to_disk"),
        (["{fixtures}/docs.jsonl"], "the following arguments are required: --output"),
        (["s3://bucket/news.jsonl", "--output", "{tmp}/o.jsonl"], "object-store paths are read by the Ray engine"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(score, tmp_path, args, message):
    args = [a.format(tmp=tmp_path, fixtures=SCORE_FIXTURES) for a in args]
    code, err = score(*args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("kashif score: error:")


def test_unknown_input_extension_and_missing_model(tmp_path, capsys):
    (tmp_path / "docs.xml").write_text("<doc/>")
    assert main([str(tmp_path / "docs.xml"), "--output", str(tmp_path / "o.jsonl"), "-q", "--ner-model", str(tmp_path)]) == 2
    assert "unknown input format" in capsys.readouterr().err
    code = main([str(SCORE_FIXTURES / "docs.jsonl"), "--output", str(tmp_path / "o.jsonl"), "-q", "--ner-model", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 2 and "no such model directory" in err and len(err.strip().splitlines()) == 1


def test_unreadable_text_inputs_are_one_line_and_exit_2(score, tmp_path):
    latin = tmp_path / "latin.jsonl"
    first = '{"text": "نص"}\n'.encode()
    latin.write_bytes(first + '{"text": "نص"}\n'.encode("cp1256"))
    code, err = score(latin, "--output", tmp_path / "o.jsonl")
    assert code == 2
    byte = len(first) + len('{"text": "')
    assert err.strip() == f"kashif score: error: {latin}: not UTF-8 text (invalid continuation byte at byte {byte})"
    damaged = tmp_path / "damaged.txt.gz"
    damaged.write_bytes(b"not gzip at all")
    code, err = score(damaged, "--output", tmp_path / "o.jsonl")
    assert code == 2 and f"{damaged}: damaged gzip file:" in err and len(err.strip().splitlines()) == 1


def test_csv_options_read_the_named_columns_as_strings():
    import pyarrow as pa

    read, parse, convert = csv_options("\t", ["text", "id"])
    assert parse.delimiter == "\t" and convert.column_types == {"text": pa.string(), "id": pa.string()}


def test_load_dataset_dir_refuses_a_dataset_dict(tmp_path):
    from datasets import Dataset, DatasetDict

    DatasetDict({"train": Dataset.from_dict({"text": ["نص"]})}).save_to_disk(str(tmp_path / "dd"))
    assert load_dataset_dir(tmp_path / "dd" / "train")["text"] == ["نص"]
    with pytest.raises(InputError, match="a DatasetDict with splits train; pass one split's directory"):
        load_dataset_dir(tmp_path / "dd")


def test_empty_input_gives_empty_output(score, tmp_path):
    src = tmp_path / "empty.jsonl"
    src.write_text("\n  \n")
    code, err = score(src, "--output", tmp_path / "out.jsonl")
    assert code == 0, err
    assert (tmp_path / "out.jsonl").read_text() == "" and "0 documents scored; 0 errors" in err


def test_a_model_that_fails_to_load_leaves_no_parts(tmp_path, capsys):
    bad = tmp_path / "ner"
    bad.mkdir()
    (bad / "config.json").write_text("{}")
    out = tmp_path / "o.jsonl"
    assert main([str(SCORE_FIXTURES / "docs.jsonl"), "--output", str(out), "-q", "--ner-model", str(bad)]) == 2
    assert "no tokenizer" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl.parts").exists()


def test_parts_of_another_job_are_not_mixed_in(score, tmp_path, docs):
    src = write_format(docs[:6], tmp_path, "jsonl")
    out = tmp_path / "out.jsonl"
    store = ShardStore(out, {"something": "else"})
    store.open()
    store.commit(1, [{"id": 0}], [], {})
    code, err = score(src, "--output", out)
    assert code == 2 and "partial run with other inputs" in err
    assert not out.exists()


def test_store_keeps_only_what_the_manifest_lists(tmp_path):
    out = tmp_path / "o.jsonl"
    store = ShardStore(out, {"job": 1})
    store.open()
    store.commit(2, [{"id": 0}, {"id": 1}], [], {"LOC": 1})
    store.commit(1, [], [{"row": 2, "id": 2, "reason": "x"}], {})
    parts = store.dir
    (parts / "00000002.out.jsonl").write_text('{"id": 99}\n')  # renamed, never committed
    (parts / "00000003.out.jsonl.tmp").write_text("partial")
    (parts / "manifest.json.tmp").write_text("{")
    again = ShardStore(out, {"job": 1})
    again.open()
    assert again.rows_done == 3 and again.scored == 2 and again.errors == 1
    assert sorted(p.name for p in parts.iterdir()) == ["00000000.err.jsonl", "00000000.out.jsonl", "00000001.err.jsonl", "00000001.out.jsonl", "manifest.json"]
    again.mark_finished()
    finished = ShardStore(out, {"job": 1})  # killed after the last commit, before the merge
    finished.open()
    assert finished.finished and finished.rows_done == 3
    again.merge(tmp_path / "e.jsonl")
    assert read_jsonl(out) == [{"id": 0}, {"id": 1}]
    assert read_jsonl(tmp_path / "e.jsonl") == [{"row": 2, "id": 2, "reason": "x"}]
    assert not parts.exists()


def test_two_workers_give_the_one_worker_output(score, tmp_path, docs):
    src = write_format(docs, tmp_path, "jsonl")
    args = ("--id-field", "id", "--target-field", "claim", "--chunk-size", "5")
    assert score(src, "--output", tmp_path / "one.jsonl", *args)[0] == 0
    code, err = score(src, "--output", tmp_path / "two.jsonl", *args, "--workers", "2", "--threads", "1")
    assert code == 0, err
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


def test_summary_counts_entities_per_type(score, tmp_path, docs):
    src = write_format(docs[:8], tmp_path, "jsonl")
    out = tmp_path / "out.jsonl"
    code, err = score(src, "--output", out, "--tasks", "entities")
    assert code == 0
    records = read_jsonl(out)
    total = sum(len(r["entities"]) for r in records)
    assert f"8 documents scored; 0 errors; entities {total} (" in err
    for label in {e["label"] for r in records for e in r["entities"]}:
        count = sum(e["label"] == label for r in records for e in r["entities"])
        assert f"{label} {count}" in err
