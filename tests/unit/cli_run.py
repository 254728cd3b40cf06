"""Running the real `mailstack` CLI in a subprocess, with its state in a test's folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.config import STATE_DIR_ENV

MAILSTACK = [sys.executable, "-m", "harness"]


def mailstack(*args: str, state: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAILSTACK, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, STATE_DIR_ENV: str(state)},
        timeout=timeout,
    )
