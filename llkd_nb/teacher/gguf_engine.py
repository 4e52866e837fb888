"""The native GGUF teacher: ``llama-cpp-python`` runs a GGUF file's weights in process.

The token ids are the ones the ``transformers`` teacher scores (the same tokenizer renders and encodes
the prompt), so the two engines differ only in arithmetic. With the weights as they are, llama.cpp
multiplies the 4-bit weights with 8-bit-quantised activations; ``transformers`` de-quantises the
weights to float32.

``weights`` other than ``"as-is"`` re-write the file once per load, in the system's temporary folder,
with llama.cpp's own quantize routine (the weight matrices de-quantised to that type, the 1-D tensors
kept in f32; under a second for the 135M teacher, but a full copy of the weights on disk and in
memory: meant for small teachers). On a CPU a 4-bit type without fast batched kernels can be the slow
part: measured on 2 cores with bf16 units (``make bench``), the packaged Q4_1 file labels about half
as fast as it is as de-quantised to bf16, which takes about 3x its bytes.

The prompt prefix is evaluated once; for each text the KV cache is cut back to the prefix, the text is
evaluated, and each label continuation is evaluated from the end of the text. llama.cpp runs one
sequence at a time here, so texts are not batched.

``llama-cpp-python`` has no binary wheel for every platform: pip builds it from source with cmake
and a C++ compiler (about 3 minutes on 2 cores; ``make setup-llama-cpp``).
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ..core.assets import OFFLINE_TEACHER
from .config import GgufWeights
from .engine import BatchScorer, Teacher, load_tokenizer, resolve_source
from .prompts import Prompt

INSTALL_HINT = ("the llama-cpp engine needs llama-cpp-python: `make setup-llama-cpp` "
                "(pip builds it from source; it needs cmake and a C++ compiler)")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one, as in containers)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _import_llama_cpp():
    try:
        import llama_cpp
    except ImportError as error:
        raise ModuleNotFoundError(INSTALL_HINT) from error
    return llama_cpp


def rewrite_weights(source: Path, weights: GgufWeights, target: Path, threads: int) -> Path:
    """``source`` written to ``target`` with its weight matrices in ``weights``' type (1-D tensors stay
    f32), by llama.cpp's quantize routine, its log silenced."""
    llama_cpp = _import_llama_cpp()
    types = {"f32": llama_cpp.LLAMA_FTYPE_ALL_F32, "f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
             "bf16": llama_cpp.LLAMA_FTYPE_MOSTLY_BF16}
    if weights not in types:
        raise ValueError(f"GGUF weights can be re-written as {sorted(types)}, not {weights!r}")
    try:  # llama.cpp logs every tensor to stderr; this helper is not part of llama-cpp-python's public API
        from llama_cpp._utils import suppress_stdout_stderr
        quiet = suppress_stdout_stderr(disable=False)
    except ImportError:
        quiet = nullcontext()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = types[weights], True, threads
    with quiet:
        failed = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if failed:
        raise RuntimeError(f"llama.cpp could not re-write {source.name} as {weights} (error {failed}; is there room "
                           f"for a {weights} copy of the weights in {target.parent}?)")
    return target


class LlamaCppTeacher(Teacher):
    """A GGUF teacher on llama.cpp (CPU threads by default; llama.cpp's GPU builds offload layers)."""

    def __init__(self, llama, tokenizer, name: str, fingerprint: str) -> None:
        self.llama, self.tokenizer, self.name, self.fingerprint = llama, tokenizer, name, fingerprint

    @classmethod
    def load(cls, name: str = OFFLINE_TEACHER, threads: int | None = None, context: int = 8192,
             weights: GgufWeights = "as-is") -> "LlamaCppTeacher":
        """Load ``offline:smollm2-135m`` or a ``.gguf`` file, its weights as they are or de-quantised to
        ``weights``; ``context`` tokens of KV cache (enough for a 5-shot prompt of 120-word texts; a
        model's full context can need many GiB)."""
        llama_cpp = _import_llama_cpp()
        folder, kwargs, fingerprint = resolve_source(name)
        if "gguf_file" not in kwargs:
            raise ValueError(f"the llama-cpp engine runs GGUF files (offline:smollm2-135m or a .gguf path), got {name!r}")
        threads = threads or usable_cores()
        source = Path(folder) / kwargs["gguf_file"]
        settings = dict(n_ctx=context, n_threads=threads, n_threads_batch=threads, logits_all=False, verbose=False)
        if weights == "as-is":
            return cls(llama_cpp.Llama(str(source), **settings), load_tokenizer(name), name, f"llama-cpp:{fingerprint}")
        with tempfile.TemporaryDirectory() as scratch:  # read into memory (no mmap), so the copy can go
            rewritten = rewrite_weights(source, weights, Path(scratch) / f"{source.stem}.{weights}.gguf", threads)
            llama = llama_cpp.Llama(str(rewritten), use_mmap=False, **settings)
        return cls(llama, load_tokenizer(name), name, f"llama-cpp:{fingerprint}:{weights}")

    def _last_logprobs(self) -> np.ndarray:
        """Log-softmax of the logits after the last evaluated token."""
        from llama_cpp import llama_get_logits_ith

        logits = np.ctypeslib.as_array(llama_get_logits_ith(self.llama.ctx, -1), shape=(self.llama.n_vocab(),))
        logits = logits.astype(np.float64)
        shifted = logits - logits.max()
        return shifted - np.log(np.exp(shifted).sum())

    def _evaluate(self, start: int, tokens: list[int]) -> None:
        """Evaluate ``tokens`` after the first ``start`` tokens of the KV cache (the rest is dropped)."""
        if start + len(tokens) > self.llama.n_ctx():
            raise ValueError(f"prompt of {start + len(tokens)} tokens exceeds the teacher's context of "
                             f"{self.llama.n_ctx()}; lower max_words or num_examples")
        self.llama.n_tokens = start
        self.llama.eval(tokens)

    def batch_scorer(self, prompt: Prompt, verbalizers: tuple[str, ...]) -> BatchScorer:
        prefix = self.encode(prompt.prefix)
        labels = [self.encode(v) for v in verbalizers]
        if not prefix or any(not label for label in labels):
            raise ValueError("the prompt prefix or a label tokenizes to an empty sequence")

        def score(texts: list[str]) -> np.ndarray:
            if self.llama.n_tokens < len(prefix) or list(self.llama.input_ids[: len(prefix)]) != prefix:
                self._evaluate(0, prefix)  # another prompt used the cache since
            out = np.empty((len(texts), len(labels)))
            for i, text in enumerate(texts):
                middle = self.encode(prompt.middle(text))
                if not middle:
                    raise ValueError("a text's middle tokenizes to an empty sequence")
                self._evaluate(len(prefix), middle)
                first, end = self._last_logprobs(), self.llama.n_tokens
                for k, label in enumerate(labels):
                    total = first[label[0]]
                    for j in range(1, len(label)):  # teacher forcing through the label
                        self._evaluate(end + j - 1, [label[j - 1]])
                        total += self._last_logprobs()[label[j]]
                    out[i, k] = total
            return out

        return score
