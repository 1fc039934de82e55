"""`kashif pretrain`: WordPiece + BERT masked-language-model pretraining on CPU (or GPU).

Pipeline: stream the corpus once into a normalized text cache, train (or
reuse) a WordPiece tokenizer, encode and pack the cache into fixed-length
token blocks on disk, optionally initialise the word embeddings from
skip-gram vectors over the same pieces, then run MLM with the prediction
head computed on masked positions only. The output directory is a plain
`save_pretrained` BertForMaskedLM + tokenizer that `kashif train
--base-model` accepts. Work files (cache, token blocks, checkpoint) live in
`OUTPUT/pretrain-work/` so `--resume` can continue an interrupted run.
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kashif.model.backends import PRECISION_CHOICES
from kashif.model.errors import KashifError
from kashif.model.predictor import PredictorConfig
from kashif.model.settings import reuse, setting

WORK_DIR = "pretrain-work"
TRAINING_PRECISIONS = tuple(p for p in PRECISION_CHOICES if p != "int8")
SIZES: dict[str, tuple[int, int]] = {  # name -> (layers, hidden)
    "tiny": (2, 32),
    "mini": (2, 128),
    "small": (4, 256),
    "medium": (8, 512),
    "base": (12, 768),
}


class PretrainError(KashifError, ValueError):
    """A problem with the options or inputs, reported as one line."""


def _empty_is_none(text: str) -> str | None:
    return text or None


@dataclass
class PretrainConfig:
    """Every field is a `kashif pretrain` flag."""

    corpus: list[str] = setting(
        help="corpus file: .txt(.gz) (blank line between documents), .jsonl(.gz) with a text field, "
             "or conll:PATH (first column of a CoNLL file); repeatable", repeat=True, metavar="[FORMAT:]PATH")
    output: str = setting(help="output model directory")
    text_field: str = setting("text", "JSONL field with the document text")
    match_field: str | None = setting(
        "title", "JSONL field compared against the exclusion list; a match drops the whole document; "
                 "never used as text; '' disables it", parse=_empty_is_none)
    exclude: list[str] = setting(
        help="sentences that must not appear in the pretraining text: CSV/TSV (columns s1, s2, claim_s, text, sentence) "
             "or one sentence per line; repeatable", default_factory=list, repeat=True, metavar="PATH")
    max_documents: int | None = setting(None, "read at most this many documents")
    dedup: bool = setting(True, "drop duplicate paragraphs")
    size: str = setting("small", "encoder size preset (from scratch)", choices=sorted(SIZES))
    vocab_size: int = setting(24000)
    min_frequency: int = setting(2)
    tokenizer: str | None = setting(None, "reuse this tokenizer directory instead of training one")
    init_from: str | None = setting(None, "continue pretraining this encoder directory (domain adaptation)")
    init_embeddings: str = setting("none", "initialise word embeddings from skip-gram vectors over the pieces "
                                           "(needs gensim)", choices=("none", "skipgram"))
    skipgram_epochs: int = setting(3)
    skipgram_window: int = setting(5)
    save_init: str | None = setting(None, "also save the initialised encoder (before MLM) to this directory")
    max_length: int = setting(128, "packed sequence length")
    batch_size: int = setting(64)
    learning_rate: float = setting(1e-3)
    weight_decay: float = setting(0.01)
    warmup_fraction: float = setting(0.06, "share of the budget spent warming up")
    mlm_probability: float = setting(0.15)
    max_steps: int | None = setting(None)
    max_minutes: float | None = setting(None, "wall-clock budget of the MLM phase")
    max_tokens: int | None = setting(None, "token budget of the MLM phase")
    save_every_minutes: float = setting(10.0, "checkpoint interval in minutes")
    eval_sequences: int = setting(64, "held-out blocks for the masked-LM loss")
    seed: int = setting(42)
    # the inference flags' declarations (help, KASHIF_* variable, default); no int8 for training
    precision: str = reuse(PredictorConfig, "precision", choices=TRAINING_PRECISIONS, group=None)
    threads: int | None = reuse(PredictorConfig, "threads", group=None)
    device: str = reuse(PredictorConfig, "device", group=None)
    resume: bool = setting(False, "continue from OUTPUT/pretrain-work/checkpoint.pt", show_default=False)
    progress: bool = setting(True, "show a progress bar")


def validate(cfg: PretrainConfig) -> None:
    if cfg.max_steps is None and cfg.max_minutes is None and cfg.max_tokens is None:
        raise PretrainError("give a budget: --max-steps, --max-minutes and/or --max-tokens")
    for name in ("max_steps", "max_minutes", "max_tokens"):
        value = getattr(cfg, name)
        if value is not None and value < 0:
            raise PretrainError(f"--{name.replace('_', '-')} must be ≥ 0")
    if cfg.max_length < 8:
        raise PretrainError("--max-length must be at least 8")
    if cfg.batch_size < 1:
        raise PretrainError("--batch-size must be ≥ 1")
    if not 0 < cfg.mlm_probability < 1:
        raise PretrainError("--mlm-probability must be between 0 and 1")
    if cfg.init_from and cfg.tokenizer:
        raise PretrainError("--init-from brings its own tokenizer; drop --tokenizer")
    if cfg.init_from and cfg.init_embeddings != "none":
        raise PretrainError("--init-embeddings only applies to a model trained from scratch")
    for path in [*cfg.corpus]:
        bare = path.split(":", 1)[1] if path.split(":", 1)[0] in ("text", "jsonl", "conll") else path
        if not Path(bare).is_file():
            raise PretrainError(f"{bare}: corpus file not found")
    for path in cfg.exclude:
        if not Path(path).is_file():
            raise PretrainError(f"{path}: exclusion file not found")
    for name in ("tokenizer", "init_from"):
        value = getattr(cfg, name)
        if value and not Path(value).is_dir():
            raise PretrainError(f"--{name.replace('_', '-')} {value}: not a directory")


# ---------------------------------------------------------------- data preparation


def _log(message: str) -> None:
    print(f"[pretrain {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_text_cache(cfg: PretrainConfig, work: Path) -> dict:
    """One normalized, deduplicated, exclusion-filtered paragraph per line."""
    from kashif.model.text import Normalization
    from kashif.training.corpus import CorpusReader, load_exclusions, parse_source

    normalization = Normalization()
    exclusions = load_exclusions(cfg.exclude, normalization) if cfg.exclude else set()
    reader = CorpusReader(
        sources=[parse_source(s, cfg.text_field, cfg.match_field) for s in cfg.corpus],
        normalization=normalization, exclusions=exclusions, dedup=cfg.dedup, max_documents=cfg.max_documents,
    )
    tmp = work / "corpus.txt.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for paragraph in reader:
            out.write(paragraph + "\n")
    tmp.replace(work / "corpus.txt")
    stats = {**reader.stats.to_dict(), "exclusion_sentences": len(exclusions)}
    if stats["paragraphs"] == 0:
        raise PretrainError("the corpus yielded no text (after dedup and exclusions)")
    return stats


def _iter_lines(path: Path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            yield line.rstrip("\n")


def encode_blocks(tokenizer, text_path: Path, out_path: Path, block: int, batch: int = 2000) -> int:
    """Pack the tokenized paragraphs, [SEP]-separated, into rows of `block` ids
    ([CLS] + block-2 pieces + [SEP]); returns the number of rows. The tail
    that does not fill a row is dropped."""
    dtype = np.uint16 if len(tokenizer) < 65535 else np.int32
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    backend = tokenizer.backend_tokenizer
    inner = block - 2
    buffer: list[int] = []
    rows = 0
    tmp = out_path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        lines: list[str] = []

        def flush(lines: list[str]) -> None:
            nonlocal rows, buffer
            for encoding in backend.encode_batch(lines, add_special_tokens=False):
                buffer.extend(encoding.ids)
                buffer.append(sep_id)
            full = len(buffer) // inner
            if full:
                arr = np.asarray(buffer[: full * inner], dtype=dtype).reshape(full, inner)
                arr = np.concatenate(
                    [np.full((full, 1), cls_id, dtype), arr, np.full((full, 1), sep_id, dtype)], axis=1
                )
                out.write(arr.tobytes())
                rows += full
                buffer = buffer[full * inner:]

        for line in _iter_lines(text_path):
            lines.append(line)
            if len(lines) >= batch:
                flush(lines)
                lines = []
        if lines:
            flush(lines)
    tmp.replace(out_path)
    (out_path.with_suffix(".json")).write_text(json.dumps({"rows": rows, "block": block, "dtype": np.dtype(dtype).name}))
    return rows


def open_blocks(path: Path) -> np.ndarray:
    meta = json.loads(path.with_suffix(".json").read_text())
    if meta["rows"] == 0:
        return np.zeros((0, meta["block"]), dtype=meta["dtype"])
    return np.memmap(path, dtype=meta["dtype"], mode="r", shape=(meta["rows"], meta["block"]))


def skipgram_embeddings(blocks: np.ndarray, tokenizer, dim: int, epochs: int, window: int, seed: int,
                        work: Path, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Skip-gram vectors for every piece id seen in the token blocks.

    Returns (ids, vectors). The gensim corpus is one line per paragraph of
    piece ids (split at [SEP]) so windows do not cross paragraphs.
    """
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise PretrainError("--init-embeddings skipgram needs gensim: pip install 'kashif[pretrain]'") from None
    special = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    sep = tokenizer.sep_token_id
    corpus_file = work / "skipgram.txt"
    with open(corpus_file, "w") as out:
        for start in range(0, blocks.shape[0], 4096):
            chunk = np.asarray(blocks[start:start + 4096])
            flat = chunk[:, 1:-1].reshape(-1)
            pieces: list[str] = []
            for token in flat.tolist():
                if token == sep:
                    if pieces:
                        out.write(" ".join(pieces) + "\n")
                    pieces = []
                elif token not in special:
                    pieces.append(str(token))
            if pieces:
                out.write(" ".join(pieces) + "\n")
    model = Word2Vec(
        corpus_file=str(corpus_file), vector_size=dim, window=window, sg=1, negative=5, min_count=1,
        epochs=epochs, workers=max(1, threads), seed=seed, sample=1e-4,
    )
    ids = np.array([int(t) for t in model.wv.index_to_key], dtype=np.int64)
    return ids, np.asarray(model.wv.vectors, dtype=np.float32)


# ---------------------------------------------------------------- model


def new_model(size: str, vocab_size: int, max_length: int, tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    layers, hidden = SIZES[size]
    heads = max(1, hidden // 64) if hidden >= 64 else 2
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, max_position_embeddings=max(512, max_length), type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    return BertForMaskedLM(config)


def set_word_embeddings(model, ids: np.ndarray, vectors: np.ndarray) -> int:
    """Copy skip-gram vectors into the word embedding matrix, rescaled to the
    std of the random init so LayerNorm sees the usual word/position balance."""
    import torch

    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        target_std = float(weight.std())
        vecs = torch.from_numpy(vectors - vectors.mean(axis=0, keepdims=True))
        vecs = vecs * (target_std / float(vecs.std()))
        weight[torch.from_numpy(ids)] = vecs.to(weight.dtype)
    return int(ids.shape[0])


def mask_tokens(input_ids, special_ids, mask_id: int, vocab_size: int, probability: float, generator):
    """BERT masking (80 % [MASK], 10 % random, 10 % kept). Returns (inputs, mask)."""
    import torch

    probs = torch.full(input_ids.shape, probability)
    special = torch.zeros_like(input_ids, dtype=torch.bool)
    for sid in special_ids:
        special |= input_ids == sid
    probs.masked_fill_(special, 0.0)
    masked = torch.bernoulli(probs, generator=generator).bool()
    inputs = input_ids.clone()
    replace = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool() & masked
    inputs[replace] = mask_id
    randomize = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool() & masked & ~replace
    inputs[randomize] = torch.randint(vocab_size, input_ids.shape, generator=generator)[randomize]
    return inputs, masked


def mlm_loss(model, inputs, labels, masked):
    """Cross-entropy on masked positions only; the vocabulary projection is
    computed for those rows alone (3–5× faster for small models)."""
    import torch.nn.functional as F

    if hasattr(model, "bert") and hasattr(model, "cls"):
        hidden = model.bert(input_ids=inputs).last_hidden_state
        logits = model.cls(hidden[masked])
        return F.cross_entropy(logits.float(), labels[masked])
    full = labels.masked_fill(~masked, -100)
    return model(input_ids=inputs, labels=full).loss


# ---------------------------------------------------------------- training loop


@dataclass
class Progress:
    step: int = 0
    tokens: int = 0
    elapsed: float = 0.0

    def fraction(self, cfg: PretrainConfig) -> float:
        parts = [0.0]
        if cfg.max_steps:
            parts.append(self.step / cfg.max_steps)
        if cfg.max_minutes:
            parts.append(self.elapsed / (cfg.max_minutes * 60))
        if cfg.max_tokens:
            parts.append(self.tokens / cfg.max_tokens)
        return max(parts)

    def done(self, cfg: PretrainConfig) -> bool:
        return (
            (cfg.max_steps is not None and self.step >= cfg.max_steps)
            or (cfg.max_minutes is not None and self.elapsed >= cfg.max_minutes * 60)
            or (cfg.max_tokens is not None and self.tokens >= cfg.max_tokens)
        )


def learning_rate(cfg: PretrainConfig, fraction: float) -> float:
    """Linear warmup then linear decay to zero over whichever budget runs out first."""
    if fraction < cfg.warmup_fraction:
        return cfg.learning_rate * max(fraction / cfg.warmup_fraction, 0.01)
    return cfg.learning_rate * max(0.0, 1 - fraction) / (1 - cfg.warmup_fraction)


def use_bf16(cfg: PretrainConfig) -> bool:
    import torch

    if cfg.precision != "auto":
        return cfg.precision == "bf16"
    if cfg.device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def evaluate_loss(model, eval_ids, cfg: PretrainConfig, special_ids, mask_id: int, bf16: bool) -> float | None:
    import torch

    if eval_ids is None or len(eval_ids) == 0:
        return None
    generator = torch.Generator().manual_seed(1234)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), torch.autocast(cfg.device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(eval_ids), cfg.batch_size):
            batch = torch.from_numpy(np.asarray(eval_ids[start:start + cfg.batch_size]).astype(np.int64))
            inputs, masked = mask_tokens(batch, special_ids, mask_id, model.config.vocab_size,
                                         cfg.mlm_probability, generator)
            if not masked.any():
                continue
            loss = mlm_loss(model, inputs.to(cfg.device), batch.to(cfg.device), masked.to(cfg.device))
            total += float(loss) * int(masked.sum())
            count += int(masked.sum())
    model.train()
    return total / count if count else None


@dataclass
class BlockSplit:
    """The packed blocks: the last `eval_rows` are held out for the masked-LM loss, the rest are trained on."""

    blocks: np.ndarray
    train_rows: int
    eval_rows: int

    @property
    def eval_ids(self) -> np.ndarray | None:
        return self.blocks[len(self.blocks) - self.eval_rows:] if self.eval_rows else None

    def steps_per_epoch(self, cfg: PretrainConfig) -> int:
        return self.train_rows // cfg.batch_size

    def batch(self, step: int, cfg: PretrainConfig):
        """The training rows of optimizer step `step`: each epoch walks a permutation seeded by its number, so a
        resumed run picks up where the interrupted one stopped."""
        import torch

        epoch, index = divmod(step, self.steps_per_epoch(cfg))
        order = np.random.default_rng(cfg.seed + epoch).permutation(self.train_rows)
        rows = np.sort(order[index * cfg.batch_size:(index + 1) * cfg.batch_size])
        return torch.from_numpy(np.asarray(self.blocks[rows]).astype(np.int64))


def split_blocks(blocks: np.ndarray, cfg: PretrainConfig) -> BlockSplit:
    n_eval = min(cfg.eval_sequences, max(0, len(blocks) // 10))
    train_rows = len(blocks) - n_eval
    if train_rows < cfg.batch_size:
        raise PretrainError(
            f"the corpus packs into {train_rows} training blocks of {cfg.max_length} tokens, fewer than one batch "
            f"({cfg.batch_size}): give more text or lower --batch-size/--max-length"
        )
    return BlockSplit(blocks, train_rows, n_eval)


@dataclass
class MaskedLM:
    """One masked-LM run's model, optimizer and masking: an optimizer step, the held-out loss, checkpoints."""

    model: Any
    optimizer: Any
    cfg: PretrainConfig
    special_ids: list[int]
    mask_id: int
    bf16: bool

    @classmethod
    def start(cls, model, cfg: PretrainConfig, tokenizer) -> "MaskedLM":
        """Moves `model` to the device in training mode; AdamW without weight decay on biases and LayerNorms."""
        import torch

        model.to(torch.device(cfg.device)).train()
        bf16 = use_bf16(cfg)
        decay, no_decay = [], []
        for name, param in model.named_parameters():
            (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.learning_rate, betas=(0.9, 0.98), eps=1e-6,
        )
        special_ids = [i for i in (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) if i is not None]
        return cls(model, optimizer, cfg, special_ids, tokenizer.mask_token_id, bf16)

    def step(self, batch, step: int, lr: float) -> float:
        """One optimizer step on `batch` at learning rate `lr`; the masking is seeded by the step number. Returns
        the loss."""
        import torch

        cfg, device = self.cfg, torch.device(self.cfg.device)
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        inputs, masked = mask_tokens(batch, self.special_ids, self.mask_id, self.model.config.vocab_size,
                                     cfg.mlm_probability, generator)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16):
            loss = mlm_loss(self.model, inputs.to(device), batch.to(device), masked.to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def eval_loss(self, eval_ids) -> float | None:
        return evaluate_loss(self.model, eval_ids, self.cfg, self.special_ids, self.mask_id, self.bf16)

    def save(self, path: Path, progress: Progress) -> None:
        import torch

        tmp = path.with_suffix(".tmp")
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "progress": asdict(progress), "config": asdict(self.cfg)}, tmp)
        tmp.replace(path)

    def resume(self, path: Path) -> Progress:
        import torch

        state = torch.load(path, map_location=torch.device(self.cfg.device), weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        progress = Progress(**state["progress"])
        _log(f"resumed at step {progress.step} ({progress.tokens:,} tokens, {progress.elapsed / 60:.1f} min)")
        return progress


@dataclass
class LossLog:
    """The smoothed training loss, and a history row every 100 steps (logged when there is no progress bar)."""

    ema: float | None = None
    history: list[dict] = field(default_factory=list)

    def add(self, loss: float, lr: float, progress: Progress, cfg: PretrainConfig) -> None:
        self.ema = loss if self.ema is None else 0.98 * self.ema + 0.02 * loss
        if progress.step % 100 != 0:
            return
        self.history.append({"step": progress.step, "tokens": progress.tokens,
                             "minutes": round(progress.elapsed / 60, 2), "loss": round(self.ema, 4), "lr": lr})
        if not cfg.progress:
            _log(f"step {progress.step} loss {self.ema:.3f} lr {lr:.2e} "
                 f"{progress.tokens / max(progress.elapsed, 1e-9):,.0f} tok/s")


def run_steps(mlm: MaskedLM, split: BlockSplit, progress: Progress, checkpoint: Path) -> LossLog:
    """Optimizer steps until a budget runs out, checkpointing every --save-every-minutes."""
    from tqdm.auto import tqdm

    cfg = mlm.cfg
    tokens_per_step = cfg.batch_size * cfg.max_length
    bar = tqdm(total=cfg.max_steps, initial=progress.step, disable=not cfg.progress, unit="step",
               dynamic_ncols=True, mininterval=5)
    losses = LossLog()
    last_save = time.monotonic()
    while not progress.done(cfg):
        started = time.monotonic()
        lr = learning_rate(cfg, progress.fraction(cfg))
        loss = mlm.step(split.batch(progress.step, cfg), progress.step, lr)
        if not math.isfinite(loss):
            raise PretrainError(f"loss became {loss} at step {progress.step}: lower --learning-rate")
        seconds = time.monotonic() - started
        progress.step += 1
        progress.tokens += tokens_per_step
        progress.elapsed += seconds
        losses.add(loss, lr, progress, cfg)
        bar.update(1)
        bar.set_postfix(loss=f"{losses.ema:.3f}", lr=f"{lr:.2e}", tok_s=f"{tokens_per_step / seconds:,.0f}",
                        refresh=False)
        if time.monotonic() - last_save > cfg.save_every_minutes * 60:
            mlm.save(checkpoint, progress)
            last_save = time.monotonic()
    bar.close()
    return losses


def train_mlm(model, blocks: np.ndarray, cfg: PretrainConfig, tokenizer, checkpoint: Path) -> dict:
    """Masked-LM training of `model` on the token blocks, checkpointed to `checkpoint` (resumed from it with --resume)."""
    mlm = MaskedLM.start(model, cfg, tokenizer)
    split = split_blocks(blocks, cfg)
    progress = mlm.resume(checkpoint) if cfg.resume and checkpoint.is_file() else Progress()
    initial_eval = mlm.eval_loss(split.eval_ids) if progress.step == 0 else None
    losses = run_steps(mlm, split, progress, checkpoint)
    mlm.save(checkpoint, progress)
    final_eval = mlm.eval_loss(split.eval_ids)
    return {
        "steps": progress.step, "tokens_seen": progress.tokens, "mlm_minutes": round(progress.elapsed / 60, 2),
        "epochs": round(progress.step / split.steps_per_epoch(cfg), 3), "train_blocks": split.train_rows,
        "eval_blocks": split.eval_rows, "eval_loss_initial": initial_eval, "eval_loss_final": final_eval,
        "final_train_loss_ema": losses.ema, "bf16": mlm.bf16, "history": losses.history,
    }


# ---------------------------------------------------------------- entry point


@dataclass
class WorkDir:
    """OUTPUT/pretrain-work: the text cache, tokenizer, token blocks and checkpoint, and (state.json) which
    preparation steps are done, for --resume, and how long they took."""

    path: Path
    state: dict

    @classmethod
    def open(cls, path: Path, resume: bool) -> "WorkDir":
        path.mkdir(parents=True, exist_ok=True)
        state_file = path / "state.json"
        return cls(path, json.loads(state_file.read_text()) if resume and state_file.is_file() else {})

    @property
    def corpus_file(self) -> Path:
        return self.path / "corpus.txt"

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / "tokenizer"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    def blocks_file(self, max_length: int) -> Path:
        return self.path / f"blocks{max_length}.bin"

    @property
    def timings(self) -> dict[str, float]:
        return self.state.get("timings", {})

    def done(self, step: str) -> bool:
        return bool(self.state.get(step))

    def mark_done(self, step: str, started: float) -> None:
        self.state[step] = True
        self.state["timings"] = {**self.timings, step: round(time.monotonic() - started, 1)}
        (self.path / "state.json").write_text(json.dumps(self.state, indent=1))


def prepare_corpus(cfg: PretrainConfig, work: WorkDir) -> dict:
    """The normalized text cache (reused with --resume); returns the corpus statistics."""
    if work.done("corpus") and work.corpus_file.is_file():
        stats = work.state["corpus_stats"]
    else:
        started = time.monotonic()
        _log("reading corpus")
        stats = work.state["corpus_stats"] = write_text_cache(cfg, work.path)
        work.mark_done("corpus", started)
    _log(f"corpus: {stats}")
    return stats


def prepare_tokenizer(cfg: PretrainConfig, work: WorkDir):
    """--init-from's or --tokenizer's tokenizer, else a WordPiece trained on the text cache (reused with --resume)."""
    from transformers import AutoTokenizer

    from kashif.training.tokenizer import check_tokenizer, train_wordpiece

    if cfg.init_from or cfg.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(cfg.init_from or cfg.tokenizer)
    elif work.done("tokenizer") and work.tokenizer_dir.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(work.tokenizer_dir)
    else:
        started = time.monotonic()
        _log(f"training WordPiece tokenizer (vocab {cfg.vocab_size})")
        tokenizer = train_wordpiece(_iter_lines(work.corpus_file), vocab_size=cfg.vocab_size,
                                    min_frequency=cfg.min_frequency)
        tokenizer.save_pretrained(work.tokenizer_dir)
        work.mark_done("tokenizer", started)
    check_tokenizer(tokenizer)
    _log(f"tokenizer: {len(tokenizer)} entries")
    return tokenizer


def prepare_blocks(cfg: PretrainConfig, work: WorkDir, tokenizer) -> np.ndarray:
    """The text cache encoded and packed into blocks of --max-length ids (reused with --resume)."""
    path = work.blocks_file(cfg.max_length)
    if not (work.done("blocks") and path.is_file()):
        started = time.monotonic()
        _log("encoding and packing")
        encode_blocks(tokenizer, work.corpus_file, path, cfg.max_length)
        work.mark_done("blocks", started)
    blocks = open_blocks(path)
    _log(f"{blocks.shape[0]:,} blocks of {cfg.max_length} tokens")
    return blocks


def init_model(cfg: PretrainConfig, work: WorkDir, tokenizer, blocks: np.ndarray, resuming: bool):
    """The encoder to pretrain: --init-from's, or a new one of --size, its word embeddings from skip-gram vectors
    with --init-embeddings skipgram (not when resuming: the checkpoint has them). Returns (model, the number of
    pieces given skip-gram vectors, or None)."""
    import torch
    from transformers import AutoModelForMaskedLM

    if cfg.init_from:
        model = AutoModelForMaskedLM.from_pretrained(cfg.init_from, dtype=torch.float32)
        if len(tokenizer) > model.config.vocab_size:
            model.resize_token_embeddings(len(tokenizer))
        return model, None
    model = new_model(cfg.size, len(tokenizer), cfg.max_length, tokenizer)
    if cfg.init_embeddings != "skipgram" or resuming:
        return model, None
    started = time.monotonic()
    _log("training skip-gram vectors")
    ids, vectors = skipgram_embeddings(
        blocks, tokenizer, model.config.hidden_size, cfg.skipgram_epochs, cfg.skipgram_window, cfg.seed,
        work.path, cfg.threads or torch.get_num_threads(),
    )
    pieces = set_word_embeddings(model, ids, vectors)
    work.mark_done("skipgram", started)
    return model, pieces


def _write_report(path: Path, report: dict) -> None:
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def save_init_snapshot(directory: Path, model, tokenizer, report: dict, timings: dict[str, float]) -> None:
    """--save-init: the initialised encoder, before masked-LM, with the report so far."""
    import torch

    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    _write_report(directory / "pretrain.json", {
        **report, "snapshot": "initialised encoder, before masked-LM",
        "mlm": {"steps": 0, "tokens_seen": 0, "mlm_minutes": 0.0},
        "timings_s": timings, "threads": torch.get_num_threads(),
    })


def run(cfg: PretrainConfig) -> dict:
    """The whole pipeline (see the module docstring); returns the report also written to OUTPUT/pretrain.json."""
    import torch

    started = time.monotonic()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    output = Path(cfg.output)
    work = WorkDir.open(output / WORK_DIR, cfg.resume)
    report: dict = {"config": asdict(cfg), "corpus": prepare_corpus(cfg, work)}
    tokenizer = prepare_tokenizer(cfg, work)
    blocks = prepare_blocks(cfg, work, tokenizer)
    report["corpus"]["blocks"] = int(blocks.shape[0])
    report["corpus"]["pieces"] = int(blocks.shape[0] * blocks.shape[1])
    resuming = cfg.resume and work.checkpoint.is_file()
    model, skipgram_pieces = init_model(cfg, work, tokenizer, blocks, resuming)
    if skipgram_pieces is not None:
        report["skipgram_pieces"] = skipgram_pieces
    report["parameters"] = sum(p.numel() for p in model.parameters())
    if cfg.save_init and not resuming:
        save_init_snapshot(Path(cfg.save_init), model, tokenizer, report, work.timings)

    _log(f"MLM: {report['parameters']:,} parameters, batch {cfg.batch_size}×{cfg.max_length}")
    report["mlm"] = train_mlm(model, blocks, cfg, tokenizer, work.checkpoint)
    model.to("cpu")
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    report["timings_s"] = work.timings
    report["total_minutes_this_run"] = round((time.monotonic() - started) / 60, 2)
    report["threads"] = torch.get_num_threads()
    _write_report(output / "pretrain.json", report)
    _log(f"saved {output} (eval MLM loss {report['mlm']['eval_loss_initial']} → {report['mlm']['eval_loss_final']})")
    return report
