"""Inference backends: run a batch of token ids through a loaded model, return logits.

A backend takes numpy int64 arrays (`input_ids`, `attention_mask`, and
`token_type_ids` when the model uses them) and returns float32 numpy logits,
so the predictor does not care whether torch or ONNX Runtime computes them.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

BACKENDS = ("torch", "onnx")
PRECISIONS = ("fp32", "bf16", "int8")
PRECISION_CHOICES = ("auto", *PRECISIONS)


def resolve_precision(precision: str, backend: str = "torch", device: str = "cpu") -> str:
    """`auto` is the fastest precision that kept quality in bench/results (ΔF1 ≤ 0.3):
    bf16 weights for torch where the hardware computes bf16 natively, else fp32.
    (Dynamic int8 was as fast but makes labels depend on batch composition.)"""
    if precision != "auto":
        return precision
    if backend != "torch":
        return "fp32"
    if device.startswith("cuda"):
        return "bf16"
    from kashif.model.backends.torch_backend import cpu_supports_bf16

    return "bf16" if cpu_supports_bf16() else "fp32"


class Backend(Protocol):
    name: str
    precision: str

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray: ...


def make_backend(loaded, backend: str = "torch", precision: str = "auto", device: str = "cpu", threads: int | None = None) -> Backend:
    precision = resolve_precision(precision, backend, device)
    if backend == "torch":
        from kashif.model.backends.torch_backend import TorchBackend

        return TorchBackend(loaded.model, precision=precision, device=device)
    if backend == "onnx":
        try:
            from kashif.model.backends.onnx_backend import OnnxBackend
        except ImportError as err:
            raise ValueError(f"the onnx backend needs the 'onnx' extra (pip install 'kashif[onnx]'): {err}") from None
        return OnnxBackend(loaded, precision=precision, device=device, threads=threads)
    raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
