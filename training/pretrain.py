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

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from kashif.model.errors import KashifError

WORK_DIR = "pretrain-work"
SIZES: dict[str, tuple[int, int]] = {  # name -> (layers, hidden)
    "tiny": (2, 32),
    "mini": (2, 128),
    "small": (4, 256),
    "medium": (8, 512),
    "base": (12, 768),
}


class PretrainError(KashifError, ValueError):
    """A problem with the options or inputs, reported as one line."""


@dataclass
class PretrainConfig:
    corpus: list[str]
    output: str
    text_field: str = "text"
    match_field: str | None = "title"
    exclude: list[str] = field(default_factory=list)
    max_documents: int | None = None
    dedup: bool = True
    size: str = "small"
    vocab_size: int = 24000
    min_frequency: int = 2
    tokenizer: str | None = None
    init_from: str | None = None
    init_embeddings: str = "none"
    skipgram_epochs: int = 3
    skipgram_window: int = 5
    save_init: str | None = None
    max_length: int = 128
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    mlm_probability: float = 0.15
    max_steps: int | None = None
    max_minutes: float | None = None
    max_tokens: int | None = None
    save_every_minutes: float = 10.0
    eval_sequences: int = 64
    seed: int = 42
    precision: str = "auto"
    threads: int | None = None
    device: str = "cpu"
    resume: bool = False
    progress: bool = True


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kashif pretrain",
        description="Train a WordPiece tokenizer and pretrain (or continue pretraining) a BERT encoder with masked-LM.",
    )
    p.add_argument("--corpus", action="append", required=True, metavar="[FORMAT:]PATH",
                   help="corpus file: .txt(.gz) (blank line between documents), .jsonl(.gz) with a text field, "
                        "or conll:PATH (first column of a CoNLL file); repeatable")
    p.add_argument("--output", required=True, help="output model directory")
    p.add_argument("--text-field", default="text", help="JSONL field with the document text (default: text)")
    p.add_argument("--match-field", default="title",
                   help="JSONL field compared against the exclusion list; a match drops the whole document "
                        "(never used as text; '' to disable; default: title)")
    p.add_argument("--exclude", action="append", default=[], metavar="PATH",
                   help="sentences that must not appear in the pretraining text: CSV/TSV (columns s1, s2, claim_s, "
                        "text, sentence) or one sentence per line; repeatable")
    p.add_argument("--max-documents", type=int, help="read at most this many documents")
    p.add_argument("--no-dedup", action="store_true", help="keep duplicate paragraphs")
    p.add_argument("--size", choices=sorted(SIZES), default="small", help="encoder size preset (from scratch)")
    p.add_argument("--vocab-size", type=int, default=24000)
    p.add_argument("--min-frequency", type=int, default=2)
    p.add_argument("--tokenizer", help="reuse this tokenizer directory instead of training one")
    p.add_argument("--init-from", help="continue pretraining this encoder directory (domain adaptation)")
    p.add_argument("--init-embeddings", choices=["none", "skipgram"], default="none",
                   help="initialise word embeddings from skip-gram vectors over the pieces (needs gensim)")
    p.add_argument("--skipgram-epochs", type=int, default=3)
    p.add_argument("--skipgram-window", type=int, default=5)
    p.add_argument("--save-init", help="also save the initialised encoder (before MLM) to this directory")
    p.add_argument("--max-length", type=int, default=128, help="packed sequence length")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup-fraction", type=float, default=0.06, help="share of the budget spent warming up")
    p.add_argument("--mlm-probability", type=float, default=0.15)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--max-minutes", type=float, help="wall-clock budget of the MLM phase")
    p.add_argument("--max-tokens", type=int, help="token budget of the MLM phase")
    p.add_argument("--save-every-minutes", type=float, default=10.0, help="checkpoint interval")
    p.add_argument("--eval-sequences", type=int, default=64, help="held-out blocks for the masked-LM loss")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="auto = bf16 autocast when the CPU/GPU supports it")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/pretrain-work/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    cfg = PretrainConfig(
        corpus=args.corpus, output=args.output, text_field=args.text_field,
        match_field=args.match_field or None, exclude=args.exclude, max_documents=args.max_documents,
        dedup=not args.no_dedup, size=args.size, vocab_size=args.vocab_size, min_frequency=args.min_frequency,
        tokenizer=args.tokenizer, init_from=args.init_from, init_embeddings=args.init_embeddings,
        skipgram_epochs=args.skipgram_epochs, skipgram_window=args.skipgram_window, save_init=args.save_init,
        max_length=args.max_length, batch_size=args.batch_size, learning_rate=args.learning_rate,
        weight_decay=args.weight_decay, warmup_fraction=args.warmup_fraction,
        mlm_probability=args.mlm_probability, max_steps=args.max_steps, max_minutes=args.max_minutes,
        max_tokens=args.max_tokens, save_every_minutes=args.save_every_minutes,
        eval_sequences=args.eval_sequences, seed=args.seed, precision=args.precision, threads=args.threads,
        device=args.device, resume=args.resume, progress=not args.no_progress,
    )
    validate(cfg)
    return cfg


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


def _save_checkpoint(path: Path, model, optimizer, progress: Progress, cfg: PretrainConfig) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "progress": asdict(progress), "config": asdict(cfg)}, tmp)
    tmp.replace(path)


def train_mlm(model, blocks: np.ndarray, cfg: PretrainConfig, tokenizer, work: Path) -> dict:
    import torch
    from tqdm.auto import tqdm

    device = torch.device(cfg.device)
    model.to(device).train()
    bf16 = use_bf16(cfg)
    n_eval = min(cfg.eval_sequences, max(0, len(blocks) // 10))
    eval_ids = blocks[len(blocks) - n_eval:] if n_eval else None
    train_rows = len(blocks) - n_eval
    if train_rows < cfg.batch_size:
        raise PretrainError(
            f"the corpus packs into {train_rows} training blocks of {cfg.max_length} tokens, fewer than one batch "
            f"({cfg.batch_size}): give more text or lower --batch-size/--max-length"
        )
    steps_per_epoch = train_rows // cfg.batch_size
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.learning_rate, betas=(0.9, 0.98), eps=1e-6,
    )
    progress = Progress()
    checkpoint = work / "checkpoint.pt"
    if cfg.resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        progress = Progress(**state["progress"])
        _log(f"resumed at step {progress.step} ({progress.tokens:,} tokens, {progress.elapsed / 60:.1f} min)")
    special_ids = [i for i in (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id) if i is not None]
    mask_id = tokenizer.mask_token_id
    vocab = model.config.vocab_size
    initial_eval = evaluate_loss(model, eval_ids, cfg, special_ids, mask_id, bf16) if progress.step == 0 else None
    tokens_per_step = cfg.batch_size * cfg.max_length
    bar = tqdm(total=cfg.max_steps, initial=progress.step, disable=not cfg.progress, unit="step",
               dynamic_ncols=True, mininterval=5)
    last_save = time.monotonic()
    loss_ema: float | None = None
    history: list[dict] = []
    while not progress.done(cfg):
        t0 = time.monotonic()
        epoch, index = divmod(progress.step, steps_per_epoch)
        order = np.random.default_rng(cfg.seed + epoch).permutation(train_rows)
        rows = np.sort(order[index * cfg.batch_size:(index + 1) * cfg.batch_size])
        batch = torch.from_numpy(np.asarray(blocks[rows]).astype(np.int64))
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + progress.step)
        inputs, masked = mask_tokens(batch, special_ids, mask_id, vocab, cfg.mlm_probability, generator)
        lr = learning_rate(cfg, progress.fraction(cfg))
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = mlm_loss(model, inputs.to(device), batch.to(device), masked.to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise PretrainError(f"loss became {value} at step {progress.step}: lower --learning-rate")
        progress.step += 1
        progress.tokens += tokens_per_step
        dt = time.monotonic() - t0
        progress.elapsed += dt
        loss_ema = value if loss_ema is None else 0.98 * loss_ema + 0.02 * value
        bar.update(1)
        bar.set_postfix(loss=f"{loss_ema:.3f}", lr=f"{lr:.2e}", tok_s=f"{tokens_per_step / dt:,.0f}", refresh=False)
        if progress.step % 100 == 0:
            history.append({"step": progress.step, "tokens": progress.tokens, "minutes": round(progress.elapsed / 60, 2),
                            "loss": round(loss_ema, 4), "lr": lr})
            if not cfg.progress:
                _log(f"step {progress.step} loss {loss_ema:.3f} lr {lr:.2e} "
                     f"{progress.tokens / max(progress.elapsed, 1e-9):,.0f} tok/s")
        if time.monotonic() - last_save > cfg.save_every_minutes * 60:
            _save_checkpoint(checkpoint, model, optimizer, progress, cfg)
            last_save = time.monotonic()
    bar.close()
    _save_checkpoint(checkpoint, model, optimizer, progress, cfg)
    final_eval = evaluate_loss(model, eval_ids, cfg, special_ids, mask_id, bf16)
    return {
        "steps": progress.step, "tokens_seen": progress.tokens, "mlm_minutes": round(progress.elapsed / 60, 2),
        "epochs": round(progress.step / steps_per_epoch, 3), "train_blocks": train_rows, "eval_blocks": n_eval,
        "eval_loss_initial": initial_eval, "eval_loss_final": final_eval, "final_train_loss_ema": loss_ema,
        "bf16": bf16, "history": history,
    }


# ---------------------------------------------------------------- entry point


def run(cfg: PretrainConfig) -> dict:
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from kashif.training.tokenizer import check_tokenizer, train_wordpiece

    started = time.monotonic()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    output = Path(cfg.output)
    work = output / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    state_file = work / "state.json"
    state = json.loads(state_file.read_text()) if cfg.resume and state_file.is_file() else {}
    report: dict = {"config": asdict(cfg)}
    timings: dict[str, float] = {}

    def step_done(name: str, t0: float) -> None:
        timings[name] = round(time.monotonic() - t0, 1)
        state[name] = True
        state["timings"] = {**state.get("timings", {}), name: timings[name]}
        state_file.write_text(json.dumps(state, indent=1))

    t0 = time.monotonic()
    if state.get("corpus") and (work / "corpus.txt").is_file():
        report["corpus"] = state["corpus_stats"]
    else:
        _log("reading corpus")
        report["corpus"] = state["corpus_stats"] = write_text_cache(cfg, work)
        step_done("corpus", t0)
    _log(f"corpus: {report['corpus']}")

    t0 = time.monotonic()
    tok_dir = work / "tokenizer"
    if cfg.init_from or cfg.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(cfg.init_from or cfg.tokenizer)
    elif state.get("tokenizer") and tok_dir.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    else:
        _log(f"training WordPiece tokenizer (vocab {cfg.vocab_size})")
        tokenizer = train_wordpiece(_iter_lines(work / "corpus.txt"), vocab_size=cfg.vocab_size,
                                    min_frequency=cfg.min_frequency)
        tokenizer.save_pretrained(tok_dir)
        step_done("tokenizer", t0)
    check_tokenizer(tokenizer)
    _log(f"tokenizer: {len(tokenizer)} entries")

    t0 = time.monotonic()
    blocks_path = work / f"blocks{cfg.max_length}.bin"
    if not (state.get("blocks") and blocks_path.is_file()):
        _log("encoding and packing")
        encode_blocks(tokenizer, work / "corpus.txt", blocks_path, cfg.max_length)
        step_done("blocks", t0)
    blocks = open_blocks(blocks_path)
    report["corpus"]["blocks"] = int(blocks.shape[0])
    report["corpus"]["pieces"] = int(blocks.shape[0] * blocks.shape[1])
    _log(f"{blocks.shape[0]:,} blocks of {cfg.max_length} tokens")

    resuming = cfg.resume and (work / "checkpoint.pt").is_file()
    if cfg.init_from:
        model = AutoModelForMaskedLM.from_pretrained(cfg.init_from, dtype=torch.float32)
        if len(tokenizer) > model.config.vocab_size:
            model.resize_token_embeddings(len(tokenizer))
    else:
        model = new_model(cfg.size, len(tokenizer), cfg.max_length, tokenizer)
        if cfg.init_embeddings == "skipgram" and not resuming:
            t0 = time.monotonic()
            _log("training skip-gram vectors")
            ids, vectors = skipgram_embeddings(
                blocks, tokenizer, model.config.hidden_size, cfg.skipgram_epochs, cfg.skipgram_window, cfg.seed,
                work, cfg.threads or torch.get_num_threads(),
            )
            report["skipgram_pieces"] = set_word_embeddings(model, ids, vectors)
            step_done("skipgram", t0)
    report["parameters"] = sum(p.numel() for p in model.parameters())
    if cfg.save_init and not resuming:
        model.save_pretrained(cfg.save_init)
        tokenizer.save_pretrained(cfg.save_init)
        snapshot = {**report, "snapshot": "initialised encoder, before masked-LM",
                    "mlm": {"steps": 0, "tokens_seen": 0, "mlm_minutes": 0.0},
                    "timings_s": state.get("timings", {}), "threads": torch.get_num_threads()}
        (Path(cfg.save_init) / "pretrain.json").write_text(
            json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    _log(f"MLM: {report['parameters']:,} parameters, batch {cfg.batch_size}×{cfg.max_length}")
    report["mlm"] = train_mlm(model, blocks, cfg, tokenizer, work)
    model.to("cpu")
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    report["timings_s"] = state.get("timings", {})
    report["total_minutes_this_run"] = round((time.monotonic() - started) / 60, 2)
    report["threads"] = torch.get_num_threads()
    (output / "pretrain.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    _log(f"saved {output} (eval MLM loss {report['mlm']['eval_loss_initial']} → {report['mlm']['eval_loss_final']})")
    return report


def main(argv: list[str] | None = None) -> int:
    from kashif.command import run_command

    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    def pretrain() -> None:
        run(config_from_args(args))

    # ValueError, OSError: values or files this run cannot use, reported like its own PretrainErrors
    return run_command("pretrain", pretrain, usage_errors=(ValueError, OSError), interrupted="interrupted (continue with --resume)")


if __name__ == "__main__":
    raise SystemExit(main())
