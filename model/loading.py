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
from kashif.model.tasks import TASK_NAMES, TASKS, task_named, task_of_architectures
from kashif.model.text import Normalization

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "sentencepiece.bpe.model", "spiece.model")
_BUNDLE_DIRS = " or ".join(f"{name}/" for name in TASK_NAMES)


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

    @property
    def multi_label(self) -> bool:
        """Sigmoid scores, each label on its own (transformers' `problem_type`), rather than one softmax."""
        return getattr(getattr(self.model, "config", None), "problem_type", None) == "multi_label_classification"


def hub_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _check_local_dir(path: Path) -> None:
    if not path.is_dir():
        raise ModelLoadError(f"{path}: not a directory (a model is a directory written by save_pretrained, or a hub id)")
    if not (path / "config.json").is_file():
        hint = f" (it holds {_BUNDLE_DIRS}: pass it as --model, the bundle option)" if any((path / t).is_dir() for t in TASK_NAMES) else ""
        raise ModelLoadError(f"{path}: not a model directory: config.json is missing{hint}")
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelLoadError(f"{path}: the model directory has no tokenizer (tokenizer.json or vocab.txt); save the tokenizer with the model")


def load_model(ref: str | os.PathLike, task: str | None = None, device: str = "cpu") -> LoadedModel:
    """Load a model for `task` (a name in `model.tasks.TASKS`; None: the task its kashif.json or architecture says)
    with its tokenizer and metadata. The task named here is the role the model plays: a sequence classifier can be
    loaded as stance or classify whatever its kashif.json says, but never as a token classifier."""
    import transformers
    from transformers import AutoConfig, AutoTokenizer
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
    actual_task = metadata.task if metadata else task_of_architectures(getattr(config, "architectures", None))
    if actual_task is None:
        heads = " or ".join(sorted({f"...{t.head.architecture_suffix}" for t in TASKS}))
        raise ModelLoadError(f"{ref}: cannot tell the model's task: no {METADATA_FILE} and config.json names no {heads} architecture")
    if task is not None and task_named(actual_task).head != task_named(task).head:
        raise ModelLoadError(f"{ref}: this is a {actual_task} model, but a {task} model is needed here")
    actual_task = task or actual_task
    if metadata is not None:
        metadata.task = actual_task

    labels = [config.id2label[i] for i in range(config.num_labels)]
    if metadata is None:
        max_length = min(getattr(config, "max_position_embeddings", 512) or 512, 512)
        metadata = ModelMetadata(task=actual_task, labels=labels, normalization=Normalization(), max_length=max_length)
    elif metadata.labels != labels:
        raise ModelLoadError(f"{ref}: {METADATA_FILE} labels {metadata.labels} differ from config.json id2label {labels}")

    auto = getattr(transformers, task_named(actual_task).head.auto_class)
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


def resolve_model_refs(model: str | None = None, **task_models: str | None) -> dict[str, str]:
    """Which model serves each task (task name → directory or hub id). `task_models` are the ModelRefs fields
    (`ner_model=`, `stance_model=`, `classify_model=`): explicit per-task refs win over a bundle dir (`model`);
    with nothing named, the bundled model in the package."""
    by_task = {t.name: task_models.pop(t.model_field, None) for t in TASKS}
    if task_models:
        raise TypeError(f"unknown model references: {', '.join(task_models)}")
    refs: dict[str, str] = {}
    if model is None and not any(by_task.values()):
        if not any((BUNDLED_DIR / t).is_dir() for t in TASK_NAMES):
            flags = ", ".join(t.model_flag for t in TASKS)
            raise ModelLoadError(f"no model named and no bundled model in {BUNDLED_DIR}; pass --model, {flags}")
        model = str(BUNDLED_DIR)
    if model is not None:
        bundle = Path(model).expanduser()
        if not bundle.is_dir():
            raise ModelLoadError(f"{model}: no such bundle directory")
        for task in TASK_NAMES:
            if (bundle / task).is_dir():
                refs[task] = str(bundle / task)
        if not refs:
            if (bundle / "config.json").is_file():
                meta_task = _read_task(bundle)
                if meta_task:
                    refs[meta_task] = str(bundle)
            if not refs:
                raise ModelLoadError(f"{model}: not a bundle: it has no {_BUNDLE_DIRS} model directory")
    refs.update({task: ref for task, ref in by_task.items() if ref is not None})
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
    return task_of_architectures(architectures)
