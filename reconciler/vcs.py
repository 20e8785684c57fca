"""What git says about the repository, for the few places that want it (who pauses, which
commit a plan was made from). No git, not a checkout, or a failure: None, never an error."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


def git_output(args: Sequence[str], cwd: str | Path | None = None) -> str | None:
    """What `git ARGS` prints in `cwd`, stripped; None when it fails or prints nothing."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None
