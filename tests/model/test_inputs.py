"""model/inputs.py: text files (.gz, BOM, UTF-8 errors), formats by name, bidi marks."""
from __future__ import annotations

import gzip

import pytest

from kashif.model.inputs import (
    TextDecodeError,
    format_from_name,
    is_gzip,
    open_bytes,
    open_text,
    read_text,
    strip_bidi_marks,
)

BOM = "\ufeff".encode()
LINE = "جملة عربية للاختبار\n".encode()


def _write(path, data: bytes):
    path.write_bytes(gzip.compress(data) if path.name.lower().endswith(".gz") else data)
    return path


@pytest.mark.parametrize("name", ["a.txt", "a.txt.gz", "A.TXT.GZ"])
def test_open_text_decompresses_and_drops_the_bom(tmp_path, name):
    path = _write(tmp_path / name, BOM + "سطر\r\nثانٍ\n".encode())
    with open_text(path) as handle:
        assert list(handle) == ["سطر\n", "ثانٍ\n"]
    with open_text(path, newline="", keep_bom=True) as handle:
        assert list(handle) == ["\ufeffسطر\r\n", "ثانٍ\n"]
    assert read_text(path) == "سطر\nثانٍ\n"
    with open_bytes(path) as raw:
        assert raw.read().startswith(BOM)


@pytest.mark.parametrize("name", ["bad.txt", "bad.txt.gz"])
@pytest.mark.parametrize("lines_before", [0, 20_000])  # in the early check, and far past it
@pytest.mark.parametrize("bom", [b"", BOM])
def test_not_utf8_names_the_file_and_the_byte_wherever_it_is(tmp_path, name, lines_before, bom):
    data = bom + LINE * lines_before + b"abc\xd9x\n" + LINE
    path = _write(tmp_path / name, data)
    byte = len(bom) + len(LINE) * lines_before + 3
    expected = f"{path}: not UTF-8 text (invalid continuation byte at byte {byte})"
    with pytest.raises(TextDecodeError) as info:
        with open_text(path) as handle:
            for _ in handle:
                pass
    assert str(info.value) == expected
    assert (info.value.reason, info.value.byte) == ("invalid continuation byte", byte)
    with pytest.raises(TextDecodeError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        read_text(path)


def test_not_utf8_at_the_very_end(tmp_path):
    path = _write(tmp_path / "cut.txt", LINE + "ع".encode()[:1])
    with pytest.raises(TextDecodeError, match=rf"cut.txt: not UTF-8 text \(unexpected end of data at byte {len(LINE)}\)"):
        read_text(path)


def test_text_decode_error_is_a_value_error():
    assert issubclass(TextDecodeError, ValueError)


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("docs.jsonl", "jsonl"), ("docs.ndjson.gz", "jsonl"), ("export.JSON", "jsonl"),
        ("a.csv.gz", "csv"), ("a.tsv", "tsv"), ("a.tab", "tsv"),
        ("a.parquet", "parquet"), ("a.pq", "parquet"),
        ("a.txt", "txt"), ("a.text.gz", "txt"),
        ("train.conll", "conll"), ("train.bio.gz", "conll"),
        ("s3://bucket/part-0.jsonl.gz", "jsonl"),
        ("a.tar.gz", None), ("a.gz", None), ("README", None),
    ],
)
def test_format_from_name_looks_through_gz(name, fmt):
    assert format_from_name(name) == fmt


def test_is_gzip_by_name():
    assert is_gzip("x.jsonl.gz") and is_gzip("X.GZ")
    assert not is_gzip("x.jsonl") and not is_gzip("x.gzip")


def test_strip_bidi_marks_removes_every_directional_mark():
    marked = "\u200eمحمد\u200f \u202aب\u202eج\u2066د\u2069\u061cه"
    assert strip_bidi_marks(marked) == "محمد بجده"
    # In-word joiners stay; the BOM only when asked for.
    assert strip_bidi_marks("نص\u200cمع\ufeff") == "نص\u200cمع\ufeff"
    assert strip_bidi_marks("\ufeff\u200eنص", bom=True) == "نص"


def test_a_caller_s_own_error_class_carries_the_same_message(tmp_path):
    class ReaderError(ValueError):
        pass

    path = tmp_path / "latin.txt"
    path.write_bytes("نص\n".encode() + b"caf\xe9\n")
    with pytest.raises(ReaderError, match=r"latin.txt: not UTF-8 text \(invalid continuation byte at byte \d+\)$"):
        with open_text(path, error=ReaderError) as handle:
            handle.read()
