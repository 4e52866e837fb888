"""The teacher's prompt: task instruction, label list, optional in-context examples, the text.

The chat template is rendered once with a placeholder for the text and split there: everything before
the text is the **shared prefix** (computed once, its KV cache reused for every text); the text and
what follows it (end of the user turn, start of the assistant turn) is the per-text **middle**.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

_PLACEHOLDER = "\uE000TEXT\uE000"


def truncate_words(text: str, max_words: int) -> str:
    """The first ``max_words`` whitespace-separated words of ``text``."""
    return " ".join(text.split()[:max_words])


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt template: ``prefix + truncate(text) + suffix``, then a label is scored."""

    prefix: str
    suffix: str
    max_words: int

    def middle(self, text: str) -> str:
        return truncate_words(text, self.max_words) + self.suffix

    def render(self, text: str) -> str:
        return self.prefix + self.middle(text)

    @property
    def fingerprint(self) -> str:
        blob = json.dumps([self.prefix, self.suffix, self.max_words])
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def user_message(task: str, verbalizers: list[str] | tuple[str, ...], examples: list[tuple[str, str]] = (),
                 text: str = _PLACEHOLDER) -> str:
    """The user turn: instruction, label list, optional examples (text, verbalizer), the text."""
    lines = [task, f"Possible labels: {', '.join(verbalizers)}.", ""]
    for example_text, example_label in examples:
        lines += ["Text:", example_text, f"Label: {example_label}", ""]
    lines += ["Text:", text, "Answer with one label only."]
    return "\n".join(lines)


def build_prompt(tokenizer, task: str, verbalizers: list[str] | tuple[str, ...], max_words: int = 120,
                 examples: list[tuple[str, str]] = (), system_prompt: str | None = None) -> Prompt:
    """Render the chat template around a placeholder and split it into prefix and suffix."""
    if not isinstance(max_words, int) or isinstance(max_words, bool) or max_words < 1:
        raise ValueError(f"max_words must be a positive integer, got {max_words!r}")
    shots = [(truncate_words(t, max_words), label) for t, label in examples]
    messages = [{"role": "user", "content": user_message(task, verbalizers, shots)}]
    if system_prompt is not None:
        messages.insert(0, {"role": "system", "content": system_prompt})
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:  # a base model without a chat template: plain text, the answer follows "Label:"
        rendered = "\n\n".join(m["content"] for m in messages) + "\nLabel: "
    prefix, found, suffix = rendered.partition(_PLACEHOLDER)
    if not found:
        raise ValueError("the chat template dropped the text placeholder; cannot split the prompt")
    return Prompt(prefix=prefix, suffix=suffix, max_words=max_words)
