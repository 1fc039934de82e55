"""Load a task model from a local directory, a bundle, or a Hugging Face hub id.

Every failure becomes a `ModelLoadError` whose message is one line a user can
act on, instead of a stack trace from deep inside transformers.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kashif.model.errors import KashifError
from kashif.model.messages import first_line, typed_line
from kashif.model.metadata import METADATA_FILE, ModelMetadata
from kashif.model.tasks import TASKS
from kashif.model.text import Normalization

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "sentencepiece.bpe.model", "spiece.model")
_ARCHITECTURE_TASK = {"TokenClassification": "ner", "SequenceClassification": "stance"}


class ModelLoadError(KashifError):
    """A model reference that cannot be loaded; the message says why and what to do."""


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    metadata: ModelMetadata
    source: str

    @property
    def task(self) -> str:
        return self.metadata.task

    @property
    def labels(self) -> list[str]:
        return self.metadata.labels


def hub_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _check_local_dir(path: Path) -> None:
    if not path.is_dir():
        raise ModelLoadError(f"{path}: not a directory (a model is a directory written by save_pretrained, or a hub id)")
    if not (path / "config.json").is_file():
        hint = " (it holds ner/ or stance/: pass it as --model, the bundle option)" if (path / "ner").is_dir() or (path / "stance").is_dir() else ""
        raise ModelLoadError(f"{path}: not a model directory: config.json is missing{hint}")
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelLoadError(f"{path}: the model directory has no tokenizer (tokenizer.json or vocab.txt); save the tokenizer with the model")


def _task_from_architectures(architectures: list[str] | None) -> str | None:
    for arch in architectures or []:
        for suffix, task in _ARCHITECTURE_TASK.items():
            if arch.endswith("For" + suffix):
                return task
    return None


def load_model(ref: str | os.PathLike, task: str | None = None, device: str = "cpu") -> LoadedModel:
    """Load a token-classification (task "ner") or sequence-classification
    (task "stance") model with its tokenizer and metadata."""
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    ref = str(ref)
    path = Path(ref).expanduser()
    is_local = path.exists() or ref.startswith((".", "/", "~")) or not _HUB_ID.match(ref)
    if is_local:
        if not path.exists():
            raise ModelLoadError(f"{ref}: no such model directory")
        _check_local_dir(path)
        ref = str(path)
    try:
        config = AutoConfig.from_pretrained(ref)
    except OSError as err:
        if is_local:
            raise ModelLoadError(f"{ref}: cannot read config.json: {first_line(err)}") from None
        if hub_offline():
            raise ModelLoadError(
                f"{ref}: not a local directory, and the Hugging Face hub is offline (HF_HUB_OFFLINE=1); "
                "download the model where the hub is reachable and pass its directory"
            ) from None
        raise ModelLoadError(f"{ref}: not a local directory and not loadable from the Hugging Face hub: {first_line(err)}") from None
    except ValueError as err:
        raise ModelLoadError(f"{ref}: invalid config.json: {first_line(err)}") from None

    try:
        metadata = ModelMetadata.load(path) if is_local else None
    except ValueError as err:
        raise ModelLoadError(str(err)) from None
    actual_task = metadata.task if metadata else _task_from_architectures(getattr(config, "architectures", None))
    if actual_task is None:
        raise ModelLoadError(
            f"{ref}: cannot tell the model's task: no {METADATA_FILE} and config.json names no "
            "...ForTokenClassification or ...ForSequenceClassification architecture"
        )
    if task is not None and actual_task != task:
        raise ModelLoadError(f"{ref}: this is a {actual_task} model, but a {task} model is needed here")

    labels = [config.id2label[i] for i in range(config.num_labels)]
    if metadata is None:
        max_length = min(getattr(config, "max_position_embeddings", 512) or 512, 512)
        metadata = ModelMetadata(task=actual_task, labels=labels, normalization=Normalization(), max_length=max_length)
    elif metadata.labels != labels:
        raise ModelLoadError(f"{ref}: {METADATA_FILE} labels {metadata.labels} differ from config.json id2label {labels}")

    auto = AutoModelForTokenClassification if actual_task == "ner" else AutoModelForSequenceClassification
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref)
        model = auto.from_pretrained(ref)
    except Exception as err:  # safetensors, tokenizers and torch each raise their own types
        raise ModelLoadError(f"{ref}: cannot load the model: {typed_line(err)}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{ref}: a fast tokenizer (tokenizer.json) is needed for character offsets")
    model.eval()
    model.to(device)
    metadata.max_length = min(metadata.max_length, getattr(config, "max_position_embeddings", 512) or 512)
    return LoadedModel(model=model, tokenizer=tokenizer, metadata=metadata, source=ref)


def resolve_model_refs(model: str | None = None, ner_model: str | None = None, stance_model: str | None = None) -> dict[str, str]:
    """Which model serves each task: explicit per-task refs win over a bundle
    dir (`model`); with nothing named, the bundled model in the package."""
    refs: dict[str, str] = {}
    if model is None and ner_model is None and stance_model is None:
        if not (BUNDLED_DIR / "ner").is_dir() and not (BUNDLED_DIR / "stance").is_dir():
            raise ModelLoadError(f"no model named and no bundled model in {BUNDLED_DIR}; pass --model, --ner-model or --stance-model")
        model = str(BUNDLED_DIR)
    if model is not None:
        bundle = Path(model).expanduser()
        if not bundle.is_dir():
            raise ModelLoadError(f"{model}: no such bundle directory")
        for task in TASKS:
            if (bundle / task).is_dir():
                refs[task] = str(bundle / task)
        if not refs:
            if (bundle / "config.json").is_file():
                meta_task = _read_task(bundle)
                if meta_task:
                    refs[meta_task] = str(bundle)
            if not refs:
                raise ModelLoadError(f"{model}: not a bundle: it has neither a ner/ nor a stance/ model directory")
    if ner_model is not None:
        refs["ner"] = ner_model
    if stance_model is not None:
        refs["stance"] = stance_model
    return refs


def _read_task(directory: Path) -> str | None:
    try:
        meta = ModelMetadata.load(directory)
    except ValueError:
        return None
    if meta:
        return meta.task
    try:
        architectures = json.loads((directory / "config.json").read_text()).get("architectures")
    except (OSError, json.JSONDecodeError):
        return None
    return _task_from_architectures(architectures)
