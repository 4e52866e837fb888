"""The teacher that a study names, on the engine it chooses: the one module that knows every engine."""

from __future__ import annotations

from .config import TeacherConfig
from .engine import Teacher


def load_teacher(config: TeacherConfig) -> Teacher:
    """The teacher that ``config`` names, on the engine it chooses."""
    if config.is_server:
        from .server_engine import ServerTeacher

        return ServerTeacher.connect(
            config.teacher, config.teacher_model, tokenizer=config.teacher_tokenizer,
            revision=config.teacher_revision, api_key_env=config.teacher_api_key_env,
            concurrency=config.teacher_concurrency, timeout=config.teacher_timeout,
            prompt_form=config.teacher_prompt_form,
        )
    if config.teacher_engine == "llama-cpp":
        from .gguf_engine import LlamaCppTeacher

        return LlamaCppTeacher.load(config.teacher, weights=config.teacher_gguf_weights)
    from .transformers_engine import TransformersTeacher

    return TransformersTeacher.load(config.teacher, revision=config.teacher_revision)
