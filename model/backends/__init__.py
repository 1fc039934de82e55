"""Inference backends: run a batch of token ids through a loaded model, return logits.

A backend takes numpy int64 arrays (`input_ids`, `attention_mask`, and
`token_type_ids` when the model uses them) and returns float32 numpy logits,
so the predictor does not care whether torch or ONNX Runtime computes them.
Which backend and precision `auto` picks, and why: selection.py.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

BACKENDS = ("torch", "onnx")
BACKEND_CHOICES = ("auto", *BACKENDS)
PRECISIONS = ("fp32", "bf16", "int8")
PRECISION_CHOICES = ("auto", *PRECISIONS)


class Backend(Protocol):
    name: str
    precision: str
    reason: str  # why this backend and precision run the model (selection.Choice.reason)

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray: ...


def make_backend(loaded, backend: str = "auto", precision: str = "auto", device: str = "cpu", threads: int | None = None) -> Backend:
    from kashif.model.backends.selection import choose

    if backend not in BACKEND_CHOICES:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKEND_CHOICES)}")
    choice = choose(loaded, backend, precision, device)
    if choice.backend == "torch":
        from kashif.model.backends.torch_backend import TorchBackend

        made: Backend = TorchBackend(loaded.model, precision=choice.precision, device=device)
    else:
        try:
            from kashif.model.backends.onnx_backend import OnnxBackend
        except ImportError as err:
            raise ValueError(f"the onnx backend needs the 'onnx' extra (pip install 'kashif[onnx]'): {err}") from None
        made = OnnxBackend(loaded, precision=choice.precision, device=device, threads=threads)
    made.reason = choice.reason
    return made
