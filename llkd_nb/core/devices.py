"""Where models run: the device a study names, else CUDA when present, else the CPU."""

from __future__ import annotations

import torch


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA when present, else CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
