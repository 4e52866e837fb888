"""The native GGUF teacher: llama.cpp (through ``llama-cpp-python``'s C API) runs a GGUF file's
weights in process.

The token ids are the ones the ``transformers`` teacher scores (the same tokenizer renders and encodes
the prompt), so the two engines differ only in arithmetic. With the weights as they are, llama.cpp
multiplies the 4-bit weights with 8-bit-quantised activations; ``transformers`` de-quantises the
weights to float32.

``weights`` other than ``"as-is"`` re-write the file once per load, in the system's temporary folder,
with llama.cpp's own quantize routine (the weight matrices de-quantised to that type, the 1-D tensors
kept in f32; under a second for the 135M teacher, but a full copy of the weights on disk and in
memory: meant for small teachers). On a CPU a 4-bit type without fast batched kernels can be the slow
part: on 2 cores with bf16 units (``make bench``), the packaged Q4_1 file labels at well under half the
speed it reaches de-quantised to bf16, which takes about 3x its bytes.

One text costs one decode. The prompt prefix sits once in a KV cache that several sequences share
(llama.cpp's unified cache); a text's tokens join every sequence, and each label longer than one token
continues from the text's end in a sequence of its own, so that the text and all label continuations
are evaluated together. Before the next text, the cache is cut back to the prefix. Texts are not batched
with each other: in a shared cache every token would attend over the other texts' tokens too (masked,
but computed), which measured slower. Flash attention stays off: it was faster, but moved label
probabilities further from llama-cpp-python's server (which runs without it) than the 1e-2 the two are
held to.

``llama-cpp-python`` has no binary wheel for every platform: pip builds it from source with cmake
and a C++ compiler (about 3 minutes on 2 cores; ``make setup-llama-cpp``).
"""

from __future__ import annotations

import ctypes
import os
import tempfile
import weakref
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ..core.assets import OFFLINE_TEACHER
from .config import GgufWeights
from .engine import BatchScorer, Teacher, load_tokenizer, resolve_source
from .prompts import Prompt

INSTALL_HINT = ("the llama-cpp engine needs llama-cpp-python: `make setup-llama-cpp` "
                "(pip builds it from source; it needs cmake and a C++ compiler)")
BatchEntry = tuple[int, int, tuple[int, ...], bool]  # (token id, position, sequence ids, whether its logits are wanted)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one, as in containers)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _import_llama_cpp():
    try:
        import llama_cpp
    except ImportError as error:
        raise ModuleNotFoundError(INSTALL_HINT) from error
    return llama_cpp


def _quiet():
    """A context that silences llama.cpp's log on stderr (its loaders log every tensor) where
    llama-cpp-python has the helper; it is not part of its public API."""
    try:
        from llama_cpp._utils import suppress_stdout_stderr
    except ImportError:
        return nullcontext()
    return suppress_stdout_stderr(disable=False)


def rewrite_weights(source: Path, weights: GgufWeights, target: Path, threads: int) -> Path:
    """``source`` written to ``target`` with its weight matrices in ``weights``' type (1-D tensors stay
    f32), by llama.cpp's quantize routine."""
    llama_cpp = _import_llama_cpp()
    types = {"f32": llama_cpp.LLAMA_FTYPE_ALL_F32, "f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
             "bf16": llama_cpp.LLAMA_FTYPE_MOSTLY_BF16}
    if weights not in types:
        raise ValueError(f"GGUF weights can be re-written as {sorted(types)}, not {weights!r}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize, params.nthread = types[weights], True, threads
    with _quiet():
        failed = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if failed:
        raise RuntimeError(f"llama.cpp could not re-write {source.name} as {weights} (error {failed}; is there room "
                           f"for a {weights} copy of the weights in {target.parent}?)")
    return target


def _refuse_beyond(cells: int, needed: int) -> None:
    if needed > cells:
        raise ValueError(f"prompt and label continuations of {needed} tokens exceed the teacher's context of "
                         f"{cells}; lower max_words or num_examples")


class _Context:
    """A llama.cpp context on a loaded model: a KV cache of ``cells`` tokens that up to ``sequences``
    sequences share, and a batch as large as the cache. It remembers which prompt prefix the cache holds."""

    def __init__(self, llama_cpp, model, cells: int, sequences: int, threads: int) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = params.n_batch = cells  # one decode may fill the cache; llama.cpp splits it into ubatches
        params.n_seq_max, params.kv_unified = sequences, True
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED  # see the module's docstring
        params.n_threads = params.n_threads_batch = threads
        with _quiet():
            self.pointer = llama_cpp.llama_init_from_model(model, params)
        if not self.pointer:
            raise RuntimeError(f"llama.cpp could not create a context of {cells} tokens and {sequences} sequences")
        self.llama_cpp, self.cells, self.sequences = llama_cpp, cells, sequences
        self.memory = llama_cpp.llama_get_memory(self.pointer)
        self.batch = llama_cpp.llama_batch_init(cells, 0, sequences)
        self.vocabulary = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
        self.prefix: list[int] = []

    def free(self) -> None:
        self.llama_cpp.llama_batch_free(self.batch)
        with _quiet():  # it logs its buffers' sizes
            self.llama_cpp.llama_free(self.pointer)

    def decode(self, entries: list[BatchEntry]) -> None:
        """Evaluate ``entries`` in one call (llama.cpp's own ubatches); their K/V join the cache."""
        batch = self.batch
        batch.n_tokens = len(entries)
        for i, (token, position, sequences, wanted) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, position, len(sequences), wanted
            for j, sequence in enumerate(sequences):
                batch.seq_id[i][j] = sequence
        failed = self.llama_cpp.llama_decode(self.pointer, batch)
        if failed:
            raise RuntimeError(f"llama.cpp could not evaluate {len(entries)} tokens (error {failed})")

    def logprobs(self, index: int) -> np.ndarray:
        """Log-softmax of the logits after the ``index``-th token of the last decode."""
        logits = np.ctypeslib.as_array(self.llama_cpp.llama_get_logits_ith(self.pointer, index),
                                       shape=(self.vocabulary,)).astype(np.float64)
        shifted = logits - logits.max()
        return shifted - np.log(np.exp(shifted).sum())

    def hold_prefix(self, prefix: list[int]) -> None:
        """Make every sequence start with ``prefix`` and hold nothing after it (evaluated only if the cache
        holds another prefix)."""
        if self.prefix != prefix:
            self.llama_cpp.llama_memory_clear(self.memory, True)
            self.prefix = []
            self.decode([(token, position, tuple(range(self.sequences)), False) for position, token in enumerate(prefix)])
            self.prefix = list(prefix)
        if not self.llama_cpp.llama_memory_seq_rm(self.memory, -1, len(prefix), -1):
            raise RuntimeError("llama.cpp cannot cut this model's cache back to the prompt prefix (a recurrent or "
                               "hybrid model?); the llama-cpp engine runs transformer GGUFs")


class LlamaCppTeacher(Teacher):
    """A GGUF teacher on llama.cpp (CPU threads; no layers are offloaded to a GPU)."""

    def __init__(self, llama_cpp, model, tokenizer, name: str, fingerprint: str, threads: int, context: int) -> None:
        self.tokenizer, self.name, self.fingerprint = tokenizer, name, fingerprint
        self._llama_cpp, self._model, self._threads, self._cells = llama_cpp, model, threads, context
        self._contexts: list[_Context] = []  # at most one; a list, so that the finalizer sees a replacement
        weakref.finalize(self, LlamaCppTeacher._release, llama_cpp, model, self._contexts)

    @staticmethod
    def _release(llama_cpp, model, contexts: list[_Context]) -> None:  # the context before its model
        for context in contexts:
            context.free()
        llama_cpp.llama_model_free(model)

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
        tokenizer = load_tokenizer(name)  # before the model, which nothing would free if this failed
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0
        with _quiet():
            llama_cpp.llama_backend_init()
        if weights == "as-is":
            with _quiet():
                model = llama_cpp.llama_model_load_from_file(str(source).encode(), params)
        else:
            fingerprint = f"{fingerprint}:{weights}"
            params.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE  # read into memory (no mmap), so the copy can go
            with tempfile.TemporaryDirectory() as scratch:
                rewritten = rewrite_weights(source, weights, Path(scratch) / f"{source.stem}.{weights}.gguf", threads)
                with _quiet():
                    model = llama_cpp.llama_model_load_from_file(str(rewritten).encode(), params)
        if not model:
            raise RuntimeError(f"llama.cpp could not load {source}")
        return cls(llama_cpp, model, tokenizer, name, f"llama-cpp:{fingerprint}", threads, context)

    def _context_for(self, sequences: int) -> _Context:
        """A context with room for ``sequences`` sequences (a new one only when the current has fewer)."""
        if not self._contexts or self._contexts[0].sequences < sequences:
            while self._contexts:  # out of the list before it is freed: freed once, even if the next one fails
                self._contexts.pop().free()
            self._contexts.append(_Context(self._llama_cpp, self._model, self._cells, sequences, self._threads))
        return self._contexts[0]

    def check_prompts(self, prompt: Prompt, verbalizers: tuple[str, ...], texts: list[str]) -> None:
        """The longest text's prompt and all label continuations must fit the KV cache; checked before any
        text is scored, so a long text fails the run at once, not at its end."""
        if texts:
            continuations = sum(len(self.encode(v)) - 1 for v in verbalizers)
            _refuse_beyond(self._cells, len(self.encode(prompt.prefix)) + self.longest_middle(prompt, texts) + continuations)

    def batch_scorer(self, prompt: Prompt, verbalizers: tuple[str, ...]) -> BatchScorer:
        prefix = self.encode(prompt.prefix)
        labels = [self.encode(v) for v in verbalizers]
        if not prefix or any(not label for label in labels):
            raise ValueError("the prompt prefix or a label tokenizes to an empty sequence")
        # sequence 0 carries each text; label k continues in a sequence of its own if it has more tokens
        branches = {k: 1 + i for i, k in enumerate(k for k, label in enumerate(labels) if len(label) > 1)}
        if 1 + len(branches) > self._llama_cpp.llama_max_parallel_sequences():
            raise ValueError(f"{len(branches)} labels are longer than one token; llama.cpp runs at most "
                             f"{self._llama_cpp.llama_max_parallel_sequences() - 1} label sequences beside the text")
        continuations = sum(len(label) - 1 for label in labels)  # KV cells each text's labels add
        all_sequences = tuple(range(1 + len(branches)))

        def score(texts: list[str]) -> np.ndarray:
            context = self._context_for(1 + len(branches))
            out = np.empty((len(texts), len(labels)))
            for i, text in enumerate(texts):
                middle = self.encode(prompt.middle(text))
                if not middle:
                    raise ValueError("a text's middle tokenizes to an empty sequence")
                end = len(prefix) + len(middle)
                _refuse_beyond(context.cells, end + continuations)
                context.hold_prefix(prefix)
                entries = [(token, len(prefix) + j, all_sequences, j == len(middle) - 1) for j, token in enumerate(middle)]
                for k, sequence in branches.items():  # teacher forcing through label k after the text
                    entries += [(token, end + j, (sequence,), True) for j, token in enumerate(labels[k][:-1])]
                context.decode(entries)
                first, row = context.logprobs(len(middle) - 1), len(middle)
                for k, label in enumerate(labels):
                    out[i, k] = first[label[0]]
                    for token in label[1:]:
                        out[i, k] += context.logprobs(row)[token]
                        row += 1
            return out

        return score
