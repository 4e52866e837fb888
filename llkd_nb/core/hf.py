"""Quiet transformers: its progress bars and expected notices are noise in notebooks."""

from __future__ import annotations

import io
from contextlib import contextmanager, redirect_stderr


@contextmanager
def quiet_transformers():
    """Silence transformers' progress bars (loading, saving) and info/warning logs inside the block.

    The GGUF de-quantization bar has no switch (transformers builds it with ``tqdm.auto``), so the
    block's stderr is captured too; errors still surface as exceptions.
    """
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with redirect_stderr(io.StringIO()):
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
