"""Start a REAL `kashif serve` process on a free loopback port and wait until it is ready."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import REPO

# how long a server may take to load its models; raise it on a host busy with other work
READY_TIMEOUT_S = float(os.environ.get("KASHIF_TEST_READY_TIMEOUT", "120"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kashif_command() -> list[str]:
    script = Path(sys.executable).with_name("kashif")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kashif"]


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASHIF_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def start_server(model_args: list[str], *extra_args: str, log_dir: Path, env: dict[str, str] | None = None, wait_ready: bool = True) -> ServerProcess:
    """`kashif serve <model_args> <extra_args> --host 127.0.0.1 --port <free>`;
    returns once /readyz answers 200 (or fails with the server's log)."""
    port = free_port()
    log_path = Path(log_dir) / f"server-{port}.log"
    cmd = [*kashif_command(), "serve", *model_args, "--host", "127.0.0.1", "--port", str(port), "--threads", "1", *extra_args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=server_env(env), stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path)
    if wait_ready:
        wait_until_ready(server)
    return server


def wait_until_ready(server: ServerProcess, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"kashif serve exited with {server.proc.returncode}:\n{server.log()[-3000:]}")
        try:
            if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"kashif serve not ready after {timeout:.0f} s:\n{server.log()[-3000:]}")


def chromium_binary() -> str | None:
    """Debian's chromium; installed with apt-get when missing and we may (root)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("KASHIF_NO_APT") or not shutil.which("apt-get") or os.geteuid() != 0:
        return None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-noto-core"], env=env, check=True, capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError):
        try:  # stale package lists
            subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True, timeout=300)
            subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-noto-core"], env=env, check=True, capture_output=True, timeout=900)
        except (subprocess.SubprocessError, OSError):
            return None
    return shutil.which("chromium")
