"""`kashif train` unchanged under `torchrun --nproc_per_node 2` on CPU (gloo)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.support import FIXTURES, REPO

FIX = FIXTURES / "training"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_run_completes(tmp_path, tiny_encoder_dir):
    pytest.importorskip("torch.distributed.run")
    output = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        "-m", "kashif", "train", "ner",
        "--train", str(FIX / "ner_train.txt"), "--dev", str(FIX / "ner_dev.txt"),
        "--base-model", str(tiny_encoder_dir), "--output", str(output),
        "--max-steps", "6", "--batch-size", "4", "--learning-rate", "1e-3",
        "--logging-steps", "1", "--eval-steps", "3", "--bf16", "off",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]

    record = json.loads((output / "training_config.json").read_text())
    assert record["effective"]["world_size"] == 2
    assert record["effective"]["global_batch_size"] == 8
    assert record["effective"]["global_step"] == 6
    history = json.loads((output / "log_history.json").read_text())
    # 48 sentences at 2 × 4 per step: one epoch is 6 steps when the two processes split the data.
    assert history[-1]["epoch"] == pytest.approx(1.0)
    # Losses are per-sentence means, not scaled by the world size (a 7-label random head starts near ln 7).
    first = next(h["loss"] for h in history if "loss" in h)
    assert 1.5 < first < 2.5
    assert (output / "model.safetensors").is_file() and (output / "README.md").is_file()
    # Only the main process prints the result.
    assert proc.stdout.count('"output"') == 1
