"""The teacher's prompt: task instruction, label list, optional in-context examples, the text.

The wording is data, not code: a :class:`PromptTemplate` (a system message, a user message with the fields
``{task}``, ``{labels}``, ``{examples}`` and ``{text}``, and the form of one in-context example), a named
built-in (:data:`BUILT_IN_TEMPLATES`) or a YAML file, chosen by the study key ``prompt_template``. The
chat template is rendered once with a placeholder for the text and split there: everything before the
text is the **shared prefix** (computed once, its KV cache reused for every text); the text and what follows
it (end of the user turn, start of the assistant turn) is the per-text **middle**. The teacher cache keys
every score by the rendered prompt, so another wording never reads the scores of the old one.
"""

from __future__ import annotations

import hashlib
import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import yaml

from ..core.validation import ParameterError

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


@dataclass(frozen=True)
class PromptTemplate:
    """The words around a text. ``user`` takes ``{task}`` (the dataset's instruction), ``{labels}`` (the
    verbalizers, comma-separated), ``{examples}`` (the in-context examples, each in ``example``'s form with
    ``{text}`` and ``{label}``) and ``{text}``; ``system`` (optional) is a system message."""

    user: str
    example: str = ""
    system: str | None = None

    USER_FIELDS: ClassVar[frozenset] = frozenset({"task", "labels", "examples", "text"})
    EXAMPLE_FIELDS: ClassVar[frozenset] = frozenset({"text", "label"})

    def check(self, with_examples: bool, where: str) -> None:
        """Every field the prompt needs is in the template, and no other; raised before any labeling."""
        for part, allowed, needed in (("user", self.USER_FIELDS, {"labels", "text"} | ({"examples"} if with_examples else set())),
                                      ("example", self.EXAMPLE_FIELDS, self.EXAMPLE_FIELDS if with_examples else set())):
            try:
                names = [name for _, name, _, _ in string.Formatter().parse(getattr(self, part)) if name is not None]
            except ValueError as error:
                raise ParameterError(f"{where}: its {part} message is not a valid template ({error})") from None
            fields = set(names)
            if unknown := fields - allowed:
                raise ParameterError(f"{where}: its {part} message has field(s) {sorted(unknown)}; it may use "
                                     f"{sorted(allowed)} (write a literal brace as {{{{ or }}}})")
            if missing := needed - fields:
                raise ParameterError(f"{where}: its {part} message lacks the field(s) {sorted(missing)}")
            if part == "user" and names.count("text") > 1:
                raise ParameterError(f"{where}: its user message names {{text}} twice; the prompt is split at the text")

    def user_message(self, task: str, verbalizers: list[str] | tuple[str, ...],
                     examples: list[tuple[str, str]] | tuple = (), text: str = _PLACEHOLDER) -> str:
        """The user turn: instruction, label list, optional examples (text, verbalizer), the text."""
        shots = "".join(self.example.format(text=example_text, label=label) for example_text, label in examples)
        return self.user.format(task=task, labels=", ".join(verbalizers), examples=shots, text=text)


BUILT_IN_TEMPLATES = {
    "default": PromptTemplate(
        user="{task}\nPossible labels: {labels}.\n\n{examples}Text:\n{text}\nAnswer with one label only.",
        example="Text:\n{text}\nLabel: {label}\n\n"),
}


def load_template(name: str, with_examples: bool = False) -> PromptTemplate:
    """A built-in template by name, or a YAML file (keys ``user``, optionally ``example`` and ``system``),
    checked for the fields the prompt needs (:meth:`PromptTemplate.check`)."""
    if name in BUILT_IN_TEMPLATES:
        template = BUILT_IN_TEMPLATES[name]
    else:
        path = Path(name)
        if not path.is_file():
            raise ParameterError(f"prompt_template {name!r} is neither a built-in ({', '.join(BUILT_IN_TEMPLATES)}) "
                                 "nor a YAML file")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ParameterError(f"prompt_template {name}: not valid YAML ({error})") from None
        if not isinstance(values, dict) or not isinstance(values.get("user"), str):
            raise ParameterError(f"prompt_template {name}: a mapping with a `user` message is needed")
        if unknown := set(values) - {"user", "example", "system"}:
            raise ParameterError(f"prompt_template {name}: unknown key(s) {sorted(unknown)}; keys: user, example, system")
        if not all(isinstance(value, str) for value in values.values()):
            raise ParameterError(f"prompt_template {name}: user, example and system are text (quote them in YAML)")
        template = PromptTemplate(**values)
    template.check(with_examples, f"prompt_template {name}")
    return template


def build_prompt(tokenizer, task: str, verbalizers: list[str] | tuple[str, ...], max_words: int = 120,
                 examples: list[tuple[str, str]] = (), template: PromptTemplate = BUILT_IN_TEMPLATES["default"]) -> Prompt:
    """Render ``template`` in the chat template around a placeholder and split it into prefix and suffix."""
    if not isinstance(max_words, int) or isinstance(max_words, bool) or max_words < 1:
        raise ValueError(f"max_words must be a positive integer, got {max_words!r}")
    shots = [(truncate_words(t, max_words), label) for t, label in examples]
    messages = [{"role": "user", "content": template.user_message(task, verbalizers, shots)}]
    if template.system is not None:
        messages.insert(0, {"role": "system", "content": template.system})
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:  # a base model without a chat template: plain text, the answer follows "Label:"
        rendered = "\n\n".join(m["content"] for m in messages) + "\nLabel: "
    prefix, found, suffix = rendered.partition(_PLACEHOLDER)
    if not found:
        raise ValueError("the chat template dropped the text placeholder; cannot split the prompt")
    return Prompt(prefix=prefix, suffix=suffix, max_words=max_words)
