"""A model's public identity: a name and a short content hash, never a path.

The hash is cheap and deterministic: SHA-256 over the bytes of `config.json`
and `kashif.json`, and over the name, size and first MiB of each weight and
tokenizer file, cut to `DIGEST_CHARS` hex characters. Two directories with the
same model files get the same identity wherever they lie; retrained weights
get a new one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from kashif.model.metadata import METADATA_FILE
from kashif.model.tasks import TASK_NAMES

DIGEST_CHARS = 12
HEAD_BYTES = 1 << 20  # of each weight or tokenizer file
_WHOLE_FILES = ("config.json", METADATA_FILE)
_SAMPLED_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx", ".model")
_SAMPLED_NAMES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    digest: str

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}"


def _local_dir(ref: str) -> Path | None:
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    try:  # a hub id: the snapshot transformers loaded it from, if it is in the local cache
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(ref, "config.json")
    except Exception:  # noqa: BLE001 - not a valid repo id, or no hub library: no local files
        return None
    return Path(cached).parent if isinstance(cached, str) else None


def directory_digest(directory: Path) -> str:
    """The content hash of a model directory (see the module's doc)."""
    h = hashlib.sha256()
    for name in _WHOLE_FILES:
        path = directory / name
        if path.is_file():
            h.update(f"{name}\0".encode())
            h.update(path.read_bytes())
    sampled = sorted(p for p in directory.iterdir() if p.is_file() and (p.suffix in _SAMPLED_SUFFIXES or p.name in _SAMPLED_NAMES))
    for path in sampled:
        h.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as f:
            h.update(f.read(HEAD_BYTES))
    return h.hexdigest()[:DIGEST_CHARS]


def model_name(ref: str) -> str:
    """A directory's name; a task directory of a bundle (`…/bundled/ner`) as `bundled/ner`;
    a hub id as itself."""
    path = Path(ref).expanduser()
    if not path.exists():
        return ref  # a hub id is a name already
    path = path.resolve()
    if path.name in TASK_NAMES and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name


def model_identity(ref: str) -> ModelIdentity:
    """Name and content hash of the model behind `ref` (a directory or a hub id)."""
    directory = _local_dir(ref)
    if directory is None:  # nothing local to hash: the reference itself
        return ModelIdentity(model_name(ref), hashlib.sha256(ref.encode()).hexdigest()[:DIGEST_CHARS])
    return ModelIdentity(model_name(ref), directory_digest(directory))
