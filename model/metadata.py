"""Our small metadata file, written beside a standard Hugging Face model directory."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kashif.model.tasks import TASK_NAMES
from kashif.model.text import Normalization

METADATA_FILE = "kashif.json"


@dataclass
class ModelMetadata:
    task: str
    labels: list[str]
    normalization: Normalization = field(default_factory=Normalization)
    max_length: int = 512
    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "labels": list(self.labels),
            "normalization": self.normalization.to_dict(),
            "max_length": self.max_length,
            "metrics": self.metrics,
            "extra": self.extra,
        }

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / METADATA_FILE
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict) -> "ModelMetadata":
        task = data.get("task")
        if task not in TASK_NAMES:
            raise ValueError(f"task must be one of {', '.join(TASK_NAMES)}, got {task!r}")
        labels = data.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels) or not labels:
            raise ValueError("labels must be a non-empty list of strings")
        return cls(
            task=task,
            labels=labels,
            normalization=Normalization.from_dict(data.get("normalization")),
            max_length=int(data.get("max_length", 512)),
            metrics=dict(data.get("metrics") or {}),
            extra=dict(data.get("extra") or {}),
        )

    @classmethod
    def load(cls, directory: str | Path) -> "ModelMetadata | None":
        """The metadata of a model dir, or None when it has no kashif.json."""
        path = Path(directory) / METADATA_FILE
        if not path.is_file():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, ValueError, TypeError) as err:
            raise ValueError(f"{path}: invalid {METADATA_FILE}: {err}") from err
