"""Where the real third-party models live (../shared/real), for tests and benchmarks."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

_CANDIDATES = [os.environ.get("PICOML_REAL", ""), Path(__file__).resolve().parents[2] / "../shared/real"]


def real_dir() -> Optional[Path]:
    for c in _CANDIDATES:
        if c and Path(c).is_dir():
            return Path(c).resolve()
    return None


def real_path(rel: str) -> Path:
    d = real_dir()
    if d is None:
        raise FileNotFoundError("../shared/real is not present")
    return d / rel
