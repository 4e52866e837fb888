"""Log-probabilities of whole label sequences under a causal LM, by teacher forcing.

``log p(label | prompt) = sum_j log p(label_j | prompt, label_<j)`` for every label, multi-token labels
included. Two implementations on token ids:

- :func:`naive_label_logprobs`: one full forward pass per (text, label). The reference.
- :class:`PrefixScorer`: the shared prompt prefix is run once and its KV cache reused; a batch of texts
  runs in one pass (left-padded so that every text ends at the same position); then all K label
  continuations of all texts run together on the repeated cache.
"""

from __future__ import annotations

import copy
import inspect

import torch


def _cache_names(model) -> tuple[str, str]:
    """(forward keyword, output attribute) of the KV cache: ``cache`` from transformers 5.2x on,
    ``past_key_values`` before."""
    if "cache" in inspect.signature(model.forward).parameters:
        return "cache", "cache"
    return "past_key_values", "past_key_values"


@torch.inference_mode()
def naive_label_logprobs(model, prefix_ids: list[int], middle_ids: list[int], label_ids: list[list[int]]) -> torch.Tensor:
    """``[K]`` log-probabilities of each label after ``prefix + middle``: one forward pass per label."""
    scores = []
    for label in label_ids:
        ids = torch.tensor([prefix_ids + middle_ids + label], device=model.device)
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
        start = len(prefix_ids) + len(middle_ids)
        positions = torch.arange(start - 1, start - 1 + len(label), device=model.device)
        scores.append(logp[positions, torch.tensor(label, device=model.device)].sum())
    return torch.stack(scores).cpu()


class PrefixScorer:
    """Scores K label sequences for batches of texts that share one prompt prefix."""

    def __init__(self, model, prefix_ids: list[int], label_ids: list[list[int]], pad_id: int = 0) -> None:
        if not prefix_ids:
            raise ValueError("the prompt prefix is empty")
        if any(len(label) == 0 for label in label_ids):
            raise ValueError("a label tokenizes to an empty sequence")
        self.model = model
        self.device = model.device
        self.prefix_len = len(prefix_ids)
        self.pad_id = pad_id
        self._cache_arg, self._cache_out = _cache_names(model)
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([prefix_ids], device=self.device), use_cache=True, logits_to_keep=1)
        self.prefix_cache = getattr(out, self._cache_out)
        self.num_labels = len(label_ids)
        width = max(len(label) for label in label_ids) - 1  # the last label token is never an input
        self.label_inputs = torch.full((self.num_labels, max(width, 1)), pad_id, dtype=torch.long)
        self.label_targets = torch.full((self.num_labels, max(width, 1)), pad_id, dtype=torch.long)
        self.label_target_mask = torch.zeros((self.num_labels, max(width, 1)))
        for k, label in enumerate(label_ids):
            self.label_inputs[k, : len(label) - 1] = torch.tensor(label[:-1])
            self.label_targets[k, : len(label) - 1] = torch.tensor(label[1:])
            self.label_target_mask[k, : len(label) - 1] = 1.0
        self.first_tokens = torch.tensor([label[0] for label in label_ids])
        self.multi_token = width > 0

    @torch.inference_mode()
    def __call__(self, middles: list[list[int]]) -> torch.Tensor:
        """``[B, K]`` label log-probabilities for a batch of per-text token sequences."""
        if any(len(m) == 0 for m in middles):
            raise ValueError("a text's middle tokenizes to an empty sequence")
        batch, prefix, dev = len(middles), self.prefix_len, self.device
        lengths = torch.tensor([len(m) for m in middles])
        width = int(lengths.max())
        ids = torch.full((batch, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for i, middle in enumerate(middles):  # left padding: every text ends at column width - 1
            ids[i, width - len(middle):] = torch.tensor(middle)
            mask[i, width - len(middle):] = 1
        positions = (prefix + torch.arange(width)[None, :] - (width - lengths)[:, None]).clamp(min=prefix)
        cache = copy.deepcopy(self.prefix_cache)
        cache.batch_repeat_interleave(batch)
        out = self.model(
            input_ids=ids.to(dev), attention_mask=torch.cat([torch.ones((batch, prefix), dtype=torch.long), mask], 1).to(dev),
            position_ids=positions.to(dev), use_cache=self.multi_token, logits_to_keep=1, **{self._cache_arg: cache},
        )
        scores = torch.log_softmax(out.logits[:, -1].float(), dim=-1)[:, self.first_tokens.to(dev)].cpu()
        if not self.multi_token:
            return scores
        k, steps = self.num_labels, self.label_inputs.shape[1]
        cache = getattr(out, self._cache_out)
        cache.batch_repeat_interleave(k)  # row i * K + k: text i, label k
        attention = torch.cat([torch.ones((batch, prefix), dtype=torch.long), mask], 1).repeat_interleave(k, 0)
        attention = torch.cat([attention, torch.ones((batch * k, steps), dtype=torch.long)], 1)
        label_positions = prefix + lengths.repeat_interleave(k)[:, None] + torch.arange(steps)[None, :]
        out = self.model(
            input_ids=self.label_inputs.repeat(batch, 1).to(dev), attention_mask=attention.to(dev),
            position_ids=label_positions.to(dev), use_cache=False, **{self._cache_arg: cache},
        )
        logp = torch.log_softmax(out.logits.float(), dim=-1)
        logp = logp.gather(-1, self.label_targets.repeat(batch, 1).to(dev)[..., None])[..., 0].cpu()
        rest = (logp * self.label_target_mask.repeat(batch, 1)).sum(-1).view(batch, k)
        return scores + rest
