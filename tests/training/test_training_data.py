"""Corpus loaders: every supported layout, and precise errors for malformed input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from kashif.training.config import ConfigError, build_config, load_config_file, normalization_from_spec
from kashif.training.data import (
    DataError,
    StanceColumns,
    data_fingerprint,
    load_ner,
    load_stance,
    ner_labels,
    split_dev,
    stance_labels,
)
from kashif.training.tagmaps import TagMapError, apply_tag_map, parse_tag_map
from tests.support import FIXTURES

FIX = FIXTURES / "training"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ------------------------------------------------------------------ NER


def test_conll_space_separated():
    ds = load_ner(FIX / "ner_train.txt")
    assert len(ds) == 48
    assert ds[0]["tokens"][:3] == ["وصل", "إلى", "فاطمة"]
    assert ds[0]["tags"][:4] == ["O", "O", "B-PERS", "B-LOC"]
    assert ner_labels(ds) == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PERS", "I-PERS"]


def test_conll_newsfane_layout_bom_crlf_marks_tabs(tmp_path):
    # NewsFANE: BOM, CRLF, U+200E before tokens, tab-separated, "\t" lines between sentences.
    text = (
        "\ufeff\u200eفرانكفورت\tB-Population-Center\r\n(\tO\r\n\u200eد\tB-Media\r\n\u200eب\tI-Media\r\n\t\r\n"
        "\u200eالعراق\tB-Nation\r\n.\tO\r\n"
    )
    path = write(tmp_path / "newsfane.txt", text)
    ds = load_ner(path)
    assert ds["tokens"] == [["فرانكفورت", "(", "د", "ب"], ["العراق", "."]]
    assert ds["tags"][0] == ["B-Population-Center", "O", "B-Media", "I-Media"]
    coarse = load_ner(path, tag_map=parse_tag_map("newsfane"))
    assert coarse["tags"] == [["B-LOC", "O", "B-ORG", "I-ORG"], ["B-LOC", "O"]]


def test_conll_docstart_and_extra_columns(tmp_path):
    path = write(tmp_path / "c.conll", "-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n-DOCSTART- -X- O O\nPeter NNP B-NP B-PER\n")
    ds = load_ner(path)
    assert ds["tokens"] == [["EU", "rejects"], ["Peter"]]
    assert ds["tags"] == [["B-ORG", "O"], ["B-PER"]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("محمد B-PERS\nذهب\n", "x.txt:2: expected 'TOKEN TAG'"),
        ("محمد\tB-PERS\n\tO\n", "x.txt:2: empty token"),
        ("محمد\tB-PERS\nذهب\t\n", "x.txt:2: empty tag for token 'ذهب'"),
    ],
)
def test_conll_errors_name_file_and_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_ner(write(tmp_path / "x.txt", text))


def test_conll_not_utf8(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("محمد B-PERS\n".encode("cp1256"))
    with pytest.raises(DataError, match="latin.txt: not UTF-8"):
        load_ner(path)


def test_ner_csv_not_utf8_past_the_start_is_a_data_error(tmp_path):
    rows = "".join(f"{i},محمد,B-PERS\n" for i in range(5000))  # the bad byte lies past the early check
    path = tmp_path / "late.csv"
    path.write_bytes(("sentence_id,word,tag\n" + rows).encode() + "9999,علي,B-PERS\n".encode("cp1256"))
    byte = len(("sentence_id,word,tag\n" + rows + "9999,").encode())
    with pytest.raises(DataError, match=rf"late.csv: not UTF-8 text \(invalid continuation byte at byte {byte}\)"):
        load_ner(path)


def test_gzip_corpora_are_read_by_their_inner_name(tmp_path):
    import gzip

    (tmp_path / "train.jsonl.gz").write_bytes(gzip.compress('{"tokens": ["محمد"], "tags": ["B-PERS"]}\n'.encode()))
    assert load_ner(tmp_path / "train.jsonl.gz")["tags"] == [["B-PERS"]]


def test_unknown_tag_at_dev_time_names_line(tmp_path):
    path = write(tmp_path / "dev.txt", "محمد B-PERS\nفي O\n\nجوجل B-COMPANY\n")
    with pytest.raises(DataError, match=r"dev.txt:4: unknown tag 'B-COMPANY'"):
        load_ner(path, labels=["O", "B-PERS", "I-PERS"])


def test_caraner_csv_underscore_tags_and_mark_tokens():
    ds = load_ner(FIX / "caraner_sample.csv", tag_map=parse_tag_map("caraner"))
    assert len(ds) == 2
    # The U+200F-only row (a bidi mark, tagged O) is not a word.
    assert ds[0]["tokens"] == ["قال", "وزير", "الصحة", "توفيق", "الربيعة", "إن", "المملكة", "."]
    assert ds[0]["tags"] == ["O", "O", "O", "B-PERS", "I-PERS", "O", "B-LOC", "O"]
    assert ds[1]["tags"] == ["O", "B-ORG", "I-ORG", "I-ORG", "B-MISC"]
    raw = load_ner(FIX / "caraner_sample.csv")
    assert raw[0]["tags"][1:3] == ["B-TIT", "I-TIT"]  # B_ → B- always


def test_ner_csv_missing_column(tmp_path):
    path = write(tmp_path / "bad.csv", "Sentence_ID,Word\n1,محمد\n")
    with pytest.raises(DataError, match=r"bad.csv:1: no tag column"):
        load_ner(path)


def test_jsonl_tokens_and_spans():
    ds = load_ner(FIX / "ner_tokens.jsonl", tag_map=parse_tag_map("PER=PERS"))
    assert ds["tags"] == [["O", "B-PERS", "B-LOC", "O"], ["B-ORG", "I-ORG", "O", "B-LOC"]]
    spans = load_ner(FIX / "ner_spans.jsonl")
    # Character spans → words of model.text.split_words (the comma is its own word).
    assert spans[0]["tokens"] == ["وصل", "أحمد", "إلى", "بيروت", "،", "ثم", "زار", "الأمم", "المتحدة", "."]
    assert spans[0]["tags"] == ["O", "B-PERS", "O", "B-LOC", "O", "O", "O", "B-ORG", "I-ORG", "O"]
    assert set(spans[1]["tags"]) == {"O"}


@pytest.mark.parametrize(
    "record, message",
    [
        ({"tokens": ["a", "b"], "tags": ["O"]}, r"x.jsonl:1: 2 tokens but 1 tags"),
        ({"tokens": ["a", ""], "tags": ["O", "O"]}, r"x.jsonl:1: empty token at position 1"),
        ({"tokens": ["a"]}, r"x.jsonl:1: has 'tokens' but no 'tags'"),
        ({"text": "abc def", "entities": [{"start": 2, "end": 99, "label": "X"}]}, r"x.jsonl:1: entity 0 span 2:99 outside"),
        ({"text": "abc def", "entities": [{"start": 0, "end": 3, "label": "X"}, {"start": 1, "end": 5, "label": "Y"}]}, "overlaps"),
        ({"words": []}, r"x.jsonl:1: expected 'tokens'\+'tags' or 'text'\+'entities'"),
    ],
)
def test_jsonl_errors(tmp_path, record, message):
    path = write(tmp_path / "x.jsonl", json.dumps(record) + "\n")
    with pytest.raises(DataError, match=message):
        load_ner(path)


def test_jsonl_invalid_json_line(tmp_path):
    path = write(tmp_path / "x.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": [\n')
    with pytest.raises(DataError, match=r"x.jsonl:2: invalid JSON"):
        load_ner(path)


def test_saved_dataset_dir_with_classlabel_tags(tmp_path):
    features = Features({"tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=["O", "B-PER", "I-PER"]))})
    ds = Dataset.from_dict({"tokens": [["علي", "هنا"]], "ner_tags": [[1, 0]]}, features=features)
    DatasetDict({"train": ds, "test": ds}).save_to_disk(tmp_path / "dd")
    loaded = load_ner(tmp_path / "dd", split="train")
    assert loaded["tags"] == [["B-PER", "O"]]
    with pytest.raises(DataError, match="no split 'validation'"):
        load_ner(tmp_path / "dd", split="validation")


def test_missing_file_and_unknown_dir(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_ner(tmp_path / "nope.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="neither a saved `datasets` dataset"):
        load_ner(tmp_path / "empty")


def test_hub_dataset_offline_is_one_clear_error():
    with pytest.raises(DataError, match="someone/some-ner-dataset: cannot load dataset"):
        load_ner("someone/some-ner-dataset")


def test_tag_maps():
    mapping = parse_tag_map("caraner,TIT=MISC")
    assert apply_tag_map("B_TIT", mapping) == "B-MISC"
    assert apply_tag_map("I_PER", mapping) == "I-PERS"
    assert apply_tag_map("O", mapping) == "O"
    assert apply_tag_map("B-PER", {"B-PER": "B-X"}) == "B-X"  # whole-tag entries win
    assert apply_tag_map("I-TIT", parse_tag_map("caraner")) == "O"
    with pytest.raises(TagMapError, match="neither FROM=TO"):
        parse_tag_map("nonsense")


def test_tag_map_files(tmp_path):
    assert parse_tag_map(str(write(tmp_path / "m.json", '{"PER": "PERS"}'))) == {"PER": "PERS"}
    assert parse_tag_map(str(write(tmp_path / "m.txt", "# comment\nPER=PERS\nMIS MISC\n"))) == {"PER": "PERS", "MIS": "MISC"}
    with pytest.raises(TagMapError, match=r"m2.txt:1: expected 'FROM=TO'"):
        parse_tag_map(str(write(tmp_path / "m2.txt", "PER\n")))


def test_non_bio_tags_are_reported(tmp_path):
    ds = load_ner(write(tmp_path / "x.txt", "a PERSON\nb O\n"))
    with pytest.raises(DataError, match="not BIO: PERSON"):
        ner_labels(ds)


# ------------------------------------------------------------------ stance


def test_ans_columns_found_without_options():
    ds = load_stance(FIX / "stance_train.csv")
    assert len(ds) == 36
    assert ds[0] == {"text": "ارتفعت أسعار النفط اليوم", "target": "ارتفاع أسعار النفط", "label": "agree"}
    assert stance_labels(ds) == ["agree", "disagree", "other"]


def test_mawqif_columns_bom_and_spaces():
    ds = load_stance(FIX / "mawqif_sample.csv")
    assert ds[0] == {"text": "تمكين المرأة قرار رائع", "target": "Women empowerment", "label": "Favor"}
    assert stance_labels(ds) == ["Against", "Favor", "None"]


def test_tsv_with_explicit_columns():
    columns = StanceColumns(text="sentence_text", target="claim_text", label="gold")
    ds = load_stance(FIX / "stance_custom.tsv", columns=columns)
    assert ds["label"] == ["agree", "disagree"]
    assert ds[1]["target"] == "ارتفاع أسعار النفط"
    with pytest.raises(DataError, match=r"stance_custom.tsv:1: no text column .*--text-column"):
        load_stance(FIX / "stance_custom.tsv")
    with pytest.raises(DataError, match=r"no column 'body' for the text"):
        load_stance(FIX / "stance_custom.tsv", columns=StanceColumns(text="body", label="gold"))


def test_stance_jsonl():
    ds = load_stance(FIX / "stance.jsonl")
    assert ds["label"] == ["agree", "other"]


def test_baly_directory_and_folds():
    ds = load_stance(FIX / "baly")
    assert len(ds) == 5
    assert ds[0] == {"text": "ارتفعت أسعار النفط اليوم بنسبة كبيرة", "target": "ارتفاع أسعار النفط", "label": "agree"}
    assert stance_labels(ds) == ["agree", "disagree", "discuss", "unrelated"]
    fold1 = load_stance(f"{FIX / 'baly'}@1")
    rest = load_stance(f"{FIX / 'baly'}@-1")
    assert len(fold1) == 3 and len(rest) == 2
    assert set(rest["target"]) == {"افتتاح مطار جديد"}
    with pytest.raises(DataError, match="no fold 7"):
        load_stance(f"{FIX / 'baly'}@7")


@pytest.mark.parametrize(
    "text, message",
    [
        ("s1,s2,stance\nادعاء,,agree\n", r"x.csv:2: empty text \(column 's2'\)"),
        ("s1,s2,stance\nادعاء,نص,\n", r"x.csv:2: empty label"),
        ("s1,s2,stance\nادعاء,نص,agree,extra\n", r"x.csv:2: wrong number of fields"),
        ("s1,s2\nادعاء,نص\n", r"x.csv:1: no label column"),
    ],
)
def test_stance_csv_errors(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        load_stance(write(tmp_path / "x.csv", text))


def test_unknown_stance_label_at_dev_time(tmp_path):
    path = write(tmp_path / "dev.csv", "s1,s2,stance\nا,ب,agree\nا,ب,discuss\n")
    with pytest.raises(DataError, match=r"dev.csv:3: unknown label 'discuss'"):
        load_stance(path, labels=["agree", "disagree", "other"])


# ------------------------------------------------------------------ splits, hashes, config


def test_dev_split_is_seeded_and_stratified():
    ds = load_stance(FIX / "stance_train.csv")
    train_a, dev_a = split_dev(ds, 0.25, seed=1, stratify_column="label")
    train_b, dev_b = split_dev(ds, 0.25, seed=1, stratify_column="label")
    assert dev_a["text"] == dev_b["text"] and len(train_a) + len(dev_a) == len(ds)
    assert sorted(dev_a["label"]) == ["agree"] * 3 + ["disagree"] * 3 + ["other"] * 3
    _, dev_c = split_dev(ds, 0.25, seed=2, stratify_column="label")
    assert dev_c["text"] != dev_a["text"]
    ner = load_ner(FIX / "ner_train.txt")
    tr, dv = split_dev(ner, 0.1, seed=0)
    assert (len(tr), len(dv)) == (43, 5)


def test_rare_class_keeps_one_example_on_each_side():
    ds = Dataset.from_dict({"text": list("abcdefghij"), "target": [None] * 10, "label": ["x"] * 8 + ["rare"] * 2})
    train, dev = split_dev(ds, 0.1, seed=0, stratify_column="label")
    assert dev["label"].count("rare") == 1 and train["label"].count("rare") == 1


def test_fingerprint_file_and_dir():
    one = data_fingerprint(FIX / "ner_train.txt")
    assert len(one["sha256"]) == 64 and one["files"] == 1
    again = data_fingerprint(FIX / "ner_train.txt")
    assert one == again
    folder = data_fingerprint(f"{FIX / 'baly'}@1")
    assert folder["files"] == 4 and folder["sha256"] != one["sha256"]


def test_config_file_and_flags_merge(tmp_path):
    cfg_file = write(tmp_path / "c.yaml", "task: ner\ntrain: a.txt\nbase-model: enc\noutput: out\nlearning_rate: 1e-4\nepochs: 2\n")
    values = load_config_file(cfg_file)
    config = build_config(values, {"epochs": 5.0, "seed": None})
    assert config.learning_rate == 1e-4 and config.epochs == 5.0 and config.seed == 42
    as_json = write(tmp_path / "c.json", json.dumps({"task": "stance", "train": "t.csv", "base_model": "e", "output": "o", "class_weights": True}))
    assert build_config(load_config_file(as_json), {}).class_weights is True
    with pytest.raises(ConfigError, match="unknown setting 'lerning_rate'"):
        load_config_file(write(tmp_path / "bad.yaml", "lerning_rate: 1\n"))
    with pytest.raises(ConfigError, match="either --dev or --dev-split"):
        build_config(values, {"dev": "d.txt", "dev_split": 0.1})
    with pytest.raises(ConfigError, match="--output required"):
        build_config({"task": "ner", "train": "a", "base_model": "b"}, {})


def test_normalization_spec():
    assert normalization_from_spec("default").remove_diacritics is True
    assert normalization_from_spec("none").remove_diacritics is False
    spec = normalization_from_spec("unify_alef=1,remove_diacritics=0")
    assert spec.unify_alef and not spec.remove_diacritics and spec.remove_tatweel
    with pytest.raises(ConfigError, match="unknown setting 'lowercase'"):
        normalization_from_spec("lowercase=1")
