"""`python -m tests.support.slow_commits DELAY_MS kashif-args...`: the `kashif` command, with every rename of a
`.tmp` file into place (the scorer's commits) DELAY_MS later, so that a test's `kill -9` can land between a
shard's temp file and its commit. The scorer itself is unchanged; only `os.replace` waits."""
from __future__ import annotations

import os
import sys
import time

from kashif.cli import main


def _slowed(replace, delay_s: float):
    def slow_replace(src, dst, *args, **kwargs):
        if str(src).endswith(".tmp"):
            time.sleep(delay_s)
        return replace(src, dst, *args, **kwargs)

    return slow_replace


if __name__ == "__main__":
    os.replace = _slowed(os.replace, int(sys.argv[1]) / 1000)
    sys.exit(main(sys.argv[2:]))
