"""The teacher's parameters (notebook 01): which LLM, on which engine, prompted how."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..core.assets import OFFLINE_TEACHER
from ..core.data import DataError
from ..core.params import param
from ..core.validation import ParameterError, check_range, check_types
from .prompts import load_template


GgufWeights = Literal["as-is", "f32", "f16", "bf16"]  # the llama-cpp engine's weights: as in the file, or re-written


@dataclass
class TeacherConfig:
    """The teacher and how it is prompted (notebook 01)."""

    teacher: str = param(OFFLINE_TEACHER, "the LLM: offline:smollm2-135m, a hub id, a local folder, a .gguf file, or a server URL (http://host:port/v1)")
    teacher_revision: str | None = param(None, "hub teachers: a commit or tag that pins the weights")
    teacher_engine: Literal["transformers", "llama-cpp"] = param(
        "transformers", "local teachers: transformers (float32) or llama-cpp (GGUF files in llama.cpp; make setup-llama-cpp)")
    teacher_gguf_weights: GgufWeights = param(
        "as-is", "llama-cpp engine: the GGUF's weights as they are, or de-quantised once per load (bf16: faster on CPUs with bf16 units, about 3x a 4-bit file's memory)")
    teacher_model: str | None = param(None, "server teachers: the model name the server serves (its /v1/models id)")
    teacher_tokenizer: str | None = param(None, "server teachers: whose chat template renders the prompt (None: the weights the server reports, else teacher_model)")
    teacher_api_key_env: str = param("LLKD_TEACHER_API_KEY", "server teachers: the environment variable that holds the API key")
    teacher_concurrency: int = param(8, "server teachers: requests in flight at once")
    teacher_timeout: float = param(120.0, "server teachers: seconds to wait for one answer (not retried: it may still be queued there)")
    teacher_prompt_form: Literal["auto", "token_ids", "text"] = param(
        "auto", "server teachers: send token ids (vLLM, SGLang) or text (llama-cpp-python's server); auto asks the server once")
    max_words: int = param(120, "the text is cut to its first words in the prompt")
    num_examples: int = param(0, "in-context examples, taken from the labelled validation set")
    prompt_template: str = param("default", "the prompt's wording: a built-in (default) or a YAML file with user, example and system messages")
    calibration: Literal["none", "batch", "contextual"] = param(
        "batch", "how the teacher's distribution is calibrated before it gives pseudo-labels (ours)")
    teacher_batch_size: int = param(8, "texts scored together")
    cache_path: str | None = param(None, "teacher outputs cache (None: cache/teacher.sqlite beside the run folder)")

    def __post_init__(self) -> None:
        check_types(self)
        check_range("max_words", self.max_words, 1, None)
        check_range("num_examples", self.num_examples, 0, None)
        check_range("teacher_batch_size", self.teacher_batch_size, 1, None)
        check_range("teacher_concurrency", self.teacher_concurrency, 1, None)
        check_range("teacher_timeout", self.teacher_timeout, 0, None, low_open=True)
        load_template(self.prompt_template, with_examples=self.num_examples > 0)  # a missing field fails here
        if "://" in self.teacher or "@" in self.teacher:  # a URL in any spelling, before it reaches the study file
            from .server_engine import ServerError, check_url

            try:
                check_url(self.teacher)
            except ServerError as error:
                raise ParameterError(f"teacher: {error}") from None
        if self.is_server:
            if not self.teacher_model:
                raise ParameterError(f"teacher {self.teacher} is a server: give teacher_model, the model name it serves")
            if self.teacher_engine != "transformers":
                raise ParameterError("teacher_engine chooses the in-process engine; a server teacher runs on its server")
        elif self.teacher.endswith(".gguf") or self.teacher.startswith((".", "/")):
            if not Path(self.teacher).exists():
                raise DataError(f"teacher file or folder not found: {self.teacher}")
        if self.teacher_engine == "llama-cpp" and not (self.teacher == OFFLINE_TEACHER or self.teacher.endswith(".gguf")):
            raise ParameterError(f"teacher_engine llama-cpp runs GGUF files (offline:smollm2-135m or a .gguf path), got {self.teacher!r}")
        if self.teacher_gguf_weights != "as-is" and self.teacher_engine != "llama-cpp":
            raise ParameterError(f"teacher_gguf_weights {self.teacher_gguf_weights!r} re-writes GGUF weights for the "
                                 "llama-cpp engine; set teacher_engine: llama-cpp (transformers de-quantises to float32)")

    @property
    def is_server(self) -> bool:
        return "://" in self.teacher  # http(s) in any case and spacing: __post_init__ refuses other schemes

    def resolved_cache_path(self, run_dir: str | Path) -> Path:
        return Path(self.cache_path) if self.cache_path else Path(run_dir).parent / "cache" / "teacher.sqlite"
