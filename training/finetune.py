"""`kashif train TASK`: fine-tune an encoder with the Hugging Face Trainer, for any task of the registry.

What differs between tasks follows from the task's entry (`model.tasks`): a token task (ner) reads NER corpora,
labels word pieces and is scored with seqeval; a sequence task (stance, classify) reads labeled rows, encodes a
(target, text) pair or a text alone, and is scored per class. Inputs are encoded exactly as
`model.predictor.Predictor` encodes them at inference time (words normalised with the model's `Normalization`,
pieces wrapped in [CLS] … [SEP]; sequences through `encode_stance_pairs`), so a trained directory behaves the same
in the server as on the dev set here.
Runs unchanged under `torchrun`/`accelerate launch` (DDP): the Trainer splits
batches across processes, and only the main process writes files.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kashif.model.errors import KashifError
from kashif.model.messages import first_line
from kashif.model.tasks import PAIR, TOKEN, Task, task_named
from kashif.training.augment import replace_mentions
from kashif.training.config import TrainConfig, normalization_from_spec
from kashif.training.data import (
    DataError,
    StanceColumns,
    data_fingerprint,
    format_skipped,
    load_stance,
    ner_labels,
    read_ner,
    split_dev,
    stance_labels,
)
from kashif.training.metrics import ner_metrics, stance_metrics
from kashif.training.stance_maps import parse_label_map, parse_target_map
from kashif.training.tagmaps import parse_tag_map

CHECKPOINT_DIR = "checkpoints"
IGNORE = -100
log = logging.getLogger("kashif.train")


class TrainError(KashifError, RuntimeError):
    """A training run that cannot start or finish; the message is one line."""


@dataclass
class PreparedData:
    train: Any
    dev: Any | None
    test: Any | None
    labels: list[str]
    fingerprints: dict[str, dict]
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)  # annotation-tool files: split → reason → records


# ------------------------------------------------------------------ data


def prepare_data(config: TrainConfig) -> PreparedData:
    """Load train/dev/test, fix the label set (from train unless given) and
    check dev/test against it."""
    fingerprints = {"train": data_fingerprint(config.train)}
    skipped: dict[str, dict[str, int]] = {}
    task = task_named(config.task)
    if task.head == TOKEN:
        tag_map = parse_tag_map(config.tag_map)

        def load(path: str, split: str, labels):
            loaded = read_ner(path, tag_map=tag_map, labels=labels, split=split, fmt=config.format)
            if loaded.skipped is not None:
                name = {"validation": "dev"}.get(split, split)
                skipped[name] = dict(loaded.skipped)
                log.info("%s: %d sentences; records skipped: %s", path, len(loaded.dataset), format_skipped(loaded.skipped))
            return loaded.dataset

        train = load(config.train, "train", config.labels)
        labels = list(config.labels) if config.labels else ner_labels(train)
    else:
        columns = StanceColumns(config.text_column, config.target_column, config.label_column)
        label_map, target_map = parse_label_map(config.label_map), parse_target_map(config.target_map)

        def load(path: str, split: str, labels):
            return load_stance(path, columns=columns, labels=labels, split=split, fmt=config.format,
                               label_map=label_map, target_map=target_map, pairs=task.inputs == PAIR)

        train = load(config.train, "train", config.labels)
        labels = list(config.labels) if config.labels else stance_labels(train)
    if len(labels) < 2:
        raise DataError(f"{config.train}: only one label ({labels[0]}) in the training data")
    dev = test = None
    if config.dev:
        dev = load(config.dev, "validation", labels)
        fingerprints["dev"] = data_fingerprint(config.dev)
    elif config.dev_split:
        train, dev = split_dev(train, config.dev_split, config.seed, None if task.head == TOKEN else "label")
    if config.mention_copies:
        train = _with_replaced_mentions(train, config.mention_copies, config.seed)
    if config.test:
        test = load(config.test, "test", labels)
        fingerprints["test"] = data_fingerprint(config.test)
    return PreparedData(train, dev, test, labels, fingerprints, skipped)


def _with_replaced_mentions(train, copies: int, seed: int):
    """Training sentences plus `copies` mention-replaced copies of them (dev is carved before, and never augmented)."""
    from datasets import Dataset, concatenate_datasets

    added = replace_mentions(train.to_list(), copies, seed)
    log.info("mention replacement: %d sentences added to %d", len(added), len(train))
    return concatenate_datasets([train, Dataset.from_list(added, features=train.features)]) if added else train


def encode_ner(dataset, tokenizer, label2id: dict[str, int], normalization, max_length: int):
    """Words → [CLS] pieces [SEP], the first piece of each word labelled, the
    others -100. Sentences longer than the window are cut into consecutive
    chunks at word boundaries (column `sentence` says which sentence a chunk is from)."""
    from kashif.model.text import normalize_word

    unk = tokenizer.unk_token or "[UNK]"
    budget = max_length - 2

    def encode(batch, indices):
        words = [[normalize_word(w, normalization) or unk for w in tokens] for tokens in batch["tokens"]]
        # Whole sentences are tokenized, then cut into windows below: no length warning.
        enc = tokenizer(words, is_split_into_words=True, add_special_tokens=False, verbose=False)
        out = {"input_ids": [], "labels": [], "sentence": []}
        for k, (tags, index) in enumerate(zip(batch["tags"], indices)):
            pieces: list[list[int]] = [[] for _ in tags]
            for piece, w in zip(enc["input_ids"][k], enc.word_ids(k)):
                if w is not None:
                    pieces[w].append(piece)
            chunk_ids: list[int] = []
            chunk_labels: list[int] = []
            for w, (word_pieces, tag) in enumerate(zip(pieces, tags)):
                word_pieces = (word_pieces or [tokenizer.unk_token_id])[:budget]
                if chunk_ids and len(chunk_ids) + len(word_pieces) > budget:
                    _emit(out, tokenizer, chunk_ids, chunk_labels, index)
                    chunk_ids, chunk_labels = [], []
                chunk_ids += word_pieces
                chunk_labels += [label2id[tag]] + [IGNORE] * (len(word_pieces) - 1)
            if chunk_ids:
                _emit(out, tokenizer, chunk_ids, chunk_labels, index)
        out["attention_mask"] = [[1] * len(ids) for ids in out["input_ids"]]
        return out

    return dataset.map(encode, batched=True, with_indices=True, remove_columns=dataset.column_names)


def _emit(out: dict, tokenizer, ids: list[int], labels: list[int], index: int) -> None:
    out["input_ids"].append([tokenizer.cls_token_id, *ids, tokenizer.sep_token_id])
    out["labels"].append([IGNORE, *labels, IGNORE])
    out["sentence"].append(index)


def encode_sequences(dataset, tokenizer, label2id: dict[str, int], normalization, max_length: int):
    """(target, text) pairs, or texts alone where the target is None, through `model.encoding.encode_stance_pairs`,
    as at inference."""
    from kashif.model.encoding import encode_stance_pairs

    def encode(batch):
        enc = encode_stance_pairs(tokenizer, batch["text"], batch["target"], max_length, normalization)
        out = {k: enc[k] for k in enc.keys() if k != "truncated"}
        out["labels"] = [label2id[label] for label in batch["label"]]
        return out

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names)


# ------------------------------------------------------------------ model


def load_base(config: TrainConfig, labels: list[str]):
    """Tokenizer and a fresh task head on the base encoder (a directory or hub id)."""
    import transformers
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from kashif.model.loading import hub_offline

    base = config.base_model
    path = Path(base).expanduser()
    local = path.exists()
    if not local and (base.startswith((".", "/", "~")) or base.count("/") > 1):
        raise TrainError(f"{base}: no such base model directory")
    if not local and hub_offline():
        raise TrainError(
            f"{base}: not a local directory, and the Hugging Face hub is offline (HF_HUB_OFFLINE=1); "
            "download the model where the hub is reachable and pass its directory"
        )
    if local and not (path / "config.json").is_file():
        raise TrainError(f"{base}: not a model directory (no config.json)")
    auto = getattr(transformers, task_named(config.task).head.auto_class)
    id2label = dict(enumerate(labels))
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized weights" is expected here: a new head
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path) if local else base)
        model = auto.from_pretrained(
            str(path) if local else base,
            num_labels=len(labels),
            id2label=id2label,
            label2id={label: i for i, label in id2label.items()},
            ignore_mismatched_sizes=True,
        )
    except (OSError, ValueError, KeyError) as err:
        raise TrainError(f"{base}: cannot load the base model: {first_line(err)}") from None
    finally:
        hf_logging.set_verbosity(level)
    if not getattr(tokenizer, "is_fast", False):
        raise TrainError(f"{base}: a fast tokenizer (tokenizer.json) is needed")
    return tokenizer, model


# ------------------------------------------------------------------ metrics


@dataclass(frozen=True)
class Scorer:
    """Scores one encoded split. `breakdown` gives the full metrics (per type or class, confusion matrix); called
    with an `EvalPrediction`, as the Trainer's `compute_metrics`, it gives the flat scalars the Trainer logs."""

    task: Task
    labels: list[str]
    sentence_of_row: list[int]  # token tasks: the sentence each encoded row (a chunk of it) comes from

    @classmethod
    def for_split(cls, task: Task, labels: list[str], encoded) -> "Scorer":
        return cls(task, labels, list(encoded["sentence"]) if task.head == TOKEN else [])

    def breakdown(self, predictions, label_ids) -> dict:
        if self.task.head == TOKEN:
            return self._ner_breakdown(predictions, label_ids)
        return stance_metrics([self.labels[i] for i in label_ids], [self.labels[i] for i in predictions], self.labels)

    def _ner_breakdown(self, predictions, label_ids) -> dict:
        """Entity scores per sentence, its chunks joined back together in row order."""
        if len(label_ids) != len(self.sentence_of_row):
            raise RuntimeError(f"{len(label_ids)} predicted rows for {len(self.sentence_of_row)} encoded rows")
        y_true: dict[int, list[str]] = {}
        y_pred: dict[int, list[str]] = {}
        for sentence, p_row, g_row in zip(self.sentence_of_row, predictions, label_ids):
            mask = g_row != IGNORE
            y_true.setdefault(sentence, []).extend(self.labels[i] for i in g_row[mask])
            y_pred.setdefault(sentence, []).extend(self.labels[i] for i in p_row[mask])
        order = sorted(y_true)
        return ner_metrics([y_true[s] for s in order], [y_pred[s] for s in order])

    def __call__(self, eval_pred) -> dict:
        return _flat_metrics(self.breakdown(eval_pred.predictions, eval_pred.label_ids), self.task.breakdown)


def _flat_metrics(metrics: dict, breakdown: str) -> dict:
    """The scalar metrics plus `f1_<name>` for each row of `metrics[breakdown]`, as Trainer logs them."""
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    flat.update({f"f1_{name}": row["f1"] for name, row in metrics[breakdown].items()})
    return flat


def _argmax_logits(logits, labels):
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def _weighted_loss(weights):
    import torch.nn.functional as F

    def loss_fn(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        logits = logits.reshape(-1, logits.shape[-1]).float()
        labels = labels.reshape(-1).to(logits.device)
        w = weights.to(logits.device)
        losses = F.cross_entropy(logits, labels, weight=w, ignore_index=IGNORE, reduction="none")
        if num_items_in_batch is not None:
            return losses.sum() / num_items_in_batch
        valid = labels != IGNORE
        return losses.sum() / w[labels[valid]].sum().clamp(min=1e-8)

    return loss_fn


def class_weights(dataset, n_labels: int):
    """Balanced weights n / (k · n_c) from the encoded training labels."""
    import torch

    counts = np.zeros(n_labels, dtype=np.float64)
    for row in dataset["labels"]:
        for label in row if isinstance(row, list) else [row]:
            if label != IGNORE:
                counts[label] += 1
    present = counts > 0
    weights = np.ones(n_labels)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


# ------------------------------------------------------------------ run


def _trainer_class():
    from torch.utils.data import SequentialSampler
    from transformers import Trainer

    class SequentialEvalTrainer(Trainer):
        """With `group_by_length`, transformers 5 also length-groups (shuffles) the
        eval rows; NER dev scores join a long sentence's chunks by row order, so
        evaluation keeps the dataset order (DDP shards it in order by default)."""

        def _get_eval_sampler(self, eval_dataset):
            if eval_dataset is None:
                return None
            return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None

    return SequentialEvalTrainer


def _rank() -> int:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0)


def last_checkpoint(output: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    directory = output / CHECKPOINT_DIR
    return get_last_checkpoint(str(directory)) if directory.is_dir() else None


@dataclass
class EncodedSplits:
    """The splits as model inputs (NER rows keep a `sentence` column, see `encode_ner`), and their collator."""

    train: Any
    dev: Any | None
    test: Any | None
    collator: Any
    max_length: int  # --max-length, capped at the model's position embeddings


def encode_splits(config: TrainConfig, data: PreparedData, tokenizer, model, normalization) -> EncodedSplits:
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding

    label2id = {label: i for i, label in enumerate(data.labels)}
    max_length = min(config.max_length, getattr(model.config, "max_position_embeddings", config.max_length) or config.max_length)
    if task_named(config.task).head == TOKEN:
        encode, collator = encode_ner, DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE)
    else:
        encode, collator = encode_sequences, DataCollatorWithPadding(tokenizer)

    def encoded(dataset):
        return encode(dataset, tokenizer, label2id, normalization, max_length) if dataset is not None else None

    return EncodedSplits(encoded(data.train), encoded(data.dev), encoded(data.test), collator, max_length)


def _model_inputs(encoded):
    """An encoded split without the `sentence` bookkeeping column, which the model does not take."""
    return encoded.remove_columns([c for c in ("sentence",) if c in encoded.column_names])


def bf16_wanted(mode: str) -> bool:
    """--bf16 on, off, or auto: on a GPU that has it. Not on a CPU, even one with native
    bf16: fine-tuning the 12-layer e5-small model under CPU bf16 autocast measured 2-3x
    slower per step than fp32 on the 2-core AVX-512-BF16 host (backward passes fall to
    slow kernels), so auto trains in fp32 there."""
    import torch

    return mode == "on" or (mode == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def _evaluation_and_checkpoints(config: TrainConfig, has_dev: bool) -> dict[str, Any]:
    """TrainingArguments for when to evaluate and checkpoint: every epoch, or every --eval-steps/--save-steps."""
    eval_strategy = "steps" if config.eval_steps else "epoch"
    save_strategy = "steps" if (config.save_steps or config.eval_steps) else "epoch"
    save_steps = config.save_steps or config.eval_steps or 500
    if config.early_stopping and has_dev:
        # Keeping the best checkpoint needs a checkpoint at every evaluation.
        save_strategy, save_steps = eval_strategy, config.eval_steps or save_steps
    return dict(
        eval_strategy=eval_strategy if has_dev else "no",
        eval_steps=config.eval_steps,
        save_strategy=save_strategy,
        save_steps=save_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=bool(config.early_stopping) and has_dev,
        metric_for_best_model=task_named(config.task).best_metric if has_dev else None,
        greater_is_better=True,
    )


def training_arguments(config: TrainConfig, output: Path, has_dev: bool, bf16: bool):
    """The Trainer's TrainingArguments for `config`; checkpoints go to OUTPUT/checkpoints."""
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output / CHECKPOINT_DIR),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size or config.batch_size * 2,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=config.warmup if config.warmup < 1 else int(config.warmup),  # < 1: a fraction of the steps (transformers 5)
        weight_decay=config.weight_decay,
        gradient_accumulation_steps=config.grad_accum,
        max_grad_norm=config.max_grad_norm,
        bf16=bf16,
        seed=config.seed,
        data_seed=config.seed,
        **_evaluation_and_checkpoints(config, has_dev),
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        logging_first_step=True,
        train_sampling_strategy="group_by_length",
        dataloader_num_workers=config.num_workers,
        report_to="none",
        # Without use_cpu, accelerate leaves a CPU-only torchrun job "not distributed"
        # (gradients and losses come out scaled by the world size).
        use_cpu=not torch.cuda.is_available(),
        # transformers 5.24 scales the loss by the world size when averaging token
        # counts across processes, which doubles dev losses under DDP; plain
        # per-process means, averaged by DDP, are right.
        average_tokens_across_devices=False,
        ddp_find_unused_parameters=False if _distributed() else None,
        save_only_model=False,
        dataloader_pin_memory=torch.cuda.is_available(),
    )


def build_trainer(config: TrainConfig, labels: list[str], model, tokenizer, encoded: EncodedSplits, args):
    """The Trainer: dev scoring while training, early stopping and class-weighted loss when asked for."""
    from transformers import EarlyStoppingCallback

    trainer_class = _trainer_class()
    has_dev = encoded.dev is not None
    early_stopping = config.early_stopping and has_dev
    weights = class_weights(encoded.train, len(labels)) if config.class_weights else None
    return trainer_class(
        model=model,
        args=args,
        data_collator=encoded.collator,
        train_dataset=_model_inputs(encoded.train),
        eval_dataset=_model_inputs(encoded.dev) if has_dev else None,
        processing_class=tokenizer,
        compute_metrics=Scorer.for_split(task_named(config.task), labels, encoded.dev) if has_dev else None,
        compute_loss_func=_weighted_loss(weights) if weights is not None else None,
        preprocess_logits_for_metrics=_argmax_logits,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.early_stopping)] if early_stopping else [],
    )


def fit(trainer, resume_from: str | None, output: Path) -> None:
    try:
        trainer.train(resume_from_checkpoint=resume_from)
    except KeyboardInterrupt:
        raise TrainError(f"interrupted; rerun with --resume to continue from the last checkpoint in {output / CHECKPOINT_DIR}") from None


def score_splits(trainer, task: Task, labels: list[str], splits: dict[str, Any]) -> dict[str, dict]:
    """The full metrics of each encoded split (None: absent) under the trained model, by split name."""
    trainer.compute_metrics = None  # scored below from the predictions, each split with its own rows
    scores = {}
    for name, encoded in splits.items():
        if encoded is None:
            continue
        prediction = trainer.predict(_model_inputs(encoded), metric_key_prefix=name)
        scores[name] = Scorer.for_split(task, labels, encoded).breakdown(prediction.predictions, prediction.label_ids)
    return scores


def train(config: TrainConfig) -> dict:
    """Run one fine-tuning job; returns {"dev": metrics, "test": metrics, "output": dir}."""
    from transformers import set_seed

    output = Path(config.output)
    resume_from = _resume_target(config, output)
    normalization = normalization_from_spec(config.normalization)
    set_seed(config.seed)
    data = prepare_data(config)
    tokenizer, model = load_base(config, data.labels)
    encoded = encode_splits(config, data, tokenizer, model, normalization)
    bf16 = bf16_wanted(config.bf16)
    args = training_arguments(config, output, encoded.dev is not None, bf16)
    trainer = build_trainer(config, data.labels, model, tokenizer, encoded, args)
    fit(trainer, resume_from, output)
    task = task_named(config.task)
    scores = score_splits(trainer, task, data.labels, {"dev": encoded.dev, "test": encoded.test})
    if trainer.is_world_process_zero():
        _write_outputs(trainer, tokenizer, config, data, normalization, encoded.max_length, scores, bf16, resume_from)
    _wait_for_all_processes()
    results: dict[str, Any] = {"output": str(output)}
    if data.skipped:
        results["skipped"] = data.skipped
    results.update({name: headline(metrics, task) for name, metrics in scores.items()})
    return results


def _distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _wait_for_all_processes() -> None:
    import torch

    if _distributed() and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def headline(metrics: dict, task: Task) -> dict:
    """What kashif.json and the run's result keep of a split's metrics: the task's headline and its breakdown's F1."""
    out = {k: round(float(metrics[k]), 4) if isinstance(metrics[k], float) else metrics[k] for k in task.headline}
    breakdown = task.breakdown  # per_type (NER) or per_class
    out[f"{breakdown}_f1"] = {k: round(v["f1"], 4) for k, v in metrics[breakdown].items()}
    return out


def _resume_target(config: TrainConfig, output: Path) -> str | None:
    if isinstance(config.resume, str) and config.resume not in ("", "true", "True"):
        if not Path(config.resume).is_dir():
            raise TrainError(f"--resume {config.resume}: no such checkpoint directory")
        return config.resume
    found = last_checkpoint(output)
    if config.resume:
        if found is None:
            log.warning("--resume: no checkpoint in %s; starting from the base model", output / CHECKPOINT_DIR)
        return found
    if found is not None:
        if config.overwrite:
            if _rank() == 0:
                shutil.rmtree(output / CHECKPOINT_DIR, ignore_errors=True)
            return None
        raise TrainError(
            f"{output} already has checkpoints ({Path(found).name}); pass --resume to continue or --overwrite to start again"
        )
    return None


def _versions() -> dict:
    import datasets
    import tokenizers
    import torch
    import transformers

    commit = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "tokenizers": tokenizers.__version__,
        "kashif_commit": commit,
        "platform": platform.platform(),
    }


def _write_outputs(trainer, tokenizer, config: TrainConfig, data: PreparedData, normalization, max_length: int,
                   details: dict[str, dict], use_bf16: bool, resumed_from: str | None) -> None:
    """The model directory: weights, tokenizer, kashif.json, training record, metrics, log, plots and model card."""
    from kashif.model.metadata import ModelMetadata
    from kashif.training import cards

    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(output))  # safetensors weights + config with id2label
    tokenizer.save_pretrained(str(output))
    training_info = _training_info(config, data, trainer.state)
    ModelMetadata(
        task=config.task,
        labels=data.labels,
        normalization=normalization,
        max_length=max_length,
        metrics={name: headline(m, task_named(config.task)) for name, m in details.items()},
        extra={"training": training_info},
    ).save(output)
    record = _training_record(config, data, trainer, max_length, use_bf16, resumed_from)
    (output / "training_config.json").write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (output / "metrics.json").write_text(json.dumps(details, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log_history = trainer.state.log_history
    (output / "log_history.json").write_text(json.dumps(log_history, indent=2) + "\n", encoding="utf-8")
    cards.plot_training_curve(log_history, output / "training_curve.png", metric=task_named(config.task).best_metric)
    confusion_source = details.get("test") or details.get("dev")
    if confusion_source is not None:
        cards.plot_confusion(confusion_source["confusion"], output / "confusion_matrix.png",
                             title=f"{'test' if 'test' in details else 'dev'} set ({'token types' if task_named(config.task).head == TOKEN else 'labels'})")
    cards.write_model_card(output, config, data.labels, details, training_info, record)


def _training_info(config: TrainConfig, data: PreparedData, state) -> dict:
    """What kashif.json says about the training run."""
    return {
        "base_model": config.base_model,
        "train_examples": len(data.train),
        "dev_examples": len(data.dev) if data.dev is not None else 0,
        "test_examples": len(data.test) if data.test is not None else 0,
        "global_step": state.global_step,
        "epochs_done": round(float(state.epoch or 0), 3),
        "best_checkpoint": state.best_model_checkpoint,
        "data": data.fingerprints,
    }


def _training_record(config: TrainConfig, data: PreparedData, trainer, max_length: int, use_bf16: bool,
                     resumed_from: str | None) -> dict:
    """training_config.json: the configuration, the data hashes, what took effect, the versions and the command."""
    world_size = trainer.args.world_size
    return {
        "config": config.to_dict(),
        "labels": data.labels,
        "data": data.fingerprints,
        "effective": {
            "bf16": use_bf16,
            "max_length": max_length,
            "world_size": world_size,
            "global_batch_size": config.batch_size * config.grad_accum * world_size,
            "global_step": trainer.state.global_step,
            "resumed_from": resumed_from,
            "train_examples": len(data.train),
        },
        "versions": _versions(),
        "command": sys.argv,
    }


def configure_logging() -> None:
    import datasets
    from transformers.utils import logging as hf_logging

    logging.basicConfig(level=logging.INFO if _rank() == 0 else logging.WARNING, format="%(message)s", stream=sys.stderr)
    datasets.disable_progress_bars()
    hf_logging.set_verbosity_warning() if _rank() == 0 else hf_logging.set_verbosity_error()
