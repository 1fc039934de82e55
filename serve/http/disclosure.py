"""What the service tells clients about itself: models by name and content hash,
never the server's filesystem paths.

Public endpoints (/metrics, /healthz, /readyz, the demo page, /openapi.json)
never show a path. `/v1/models` (behind the API keys) shows each model's
directory only with `--expose-model-paths`; without it, path-like strings in a
model's recorded metrics (a training run's checkpoint or data files) are
redacted too. A load error shown to clients has its paths redacted; the
server's log and its exit message keep them for the operator.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

REDACTED = "<path>"
# an absolute, home-relative or dot-relative path: /a/b, ~/a, ./a, ../a (up to whitespace, quotes or brackets)
_PATH = re.compile(r"""(?<![\w.~/…-])(?:~|\.{1,2})?/[^\s'"()\[\]{}<>,;]*""")


def redact_paths(text: str, known: Iterable[str] = ()) -> str:
    """`text` with filesystem paths replaced: each of `known` (e.g. the model
    references the operator gave, relative ones too) by its last component
    (`…/ner`), any other absolute or relative path by `<path>`."""
    for ref in sorted({str(k) for k in known if k}, key=len, reverse=True):
        if "/" in ref or Path(ref).expanduser().exists():
            forms = {ref, str(Path(ref).expanduser()), str(Path(ref).expanduser().resolve())}
            for form in sorted(forms, key=len, reverse=True):
                text = text.replace(form, "…/" + Path(form).name)
    return _PATH.sub(REDACTED, text)


def _looks_like_path(value: str) -> bool:
    return bool(_PATH.fullmatch(value)) or value.startswith("~")


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str) and _looks_like_path(value):
        return REDACTED
    return value


def model_entry(info: dict, expose_paths: bool) -> dict:
    """One model as `/v1/models` shows it: name, digest and the rest of the
    predictor's info; `source` (the directory) only when `expose_paths`."""
    if expose_paths:
        return dict(info)
    return {k: _scrub(v) for k, v in info.items() if k != "source"}
