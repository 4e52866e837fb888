"""Teacher labeling throughput: the naive way vs. ours, on the same texts, in the same run.

naive: one full forward pass per text per label (prompt + text + label), no batching, no cache.
ours:  the shared prompt prefix computed once (KV cache reused), texts batched by length, the K label
       continuations scored together; no disk cache (every text is really scored).

    python benchmarks/teacher_throughput.py [--texts 64] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from llkd_nb.calibration import softmax
from llkd_nb.data import get_spec, load_dataset_frame, split_dataset
from llkd_nb.prompts import build_prompt
from llkd_nb.scoring import naive_label_logprobs
from llkd_nb.teacher import Teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-words", type=int, default=120)
    args = parser.parse_args()

    spec = get_spec("bbc_news")
    texts = split_dataset(load_dataset_frame(spec), seed=0).pool["text"].head(args.texts).tolist()
    teacher = Teacher.load()
    prompt = build_prompt(teacher.tokenizer, spec.task, spec.verbalizers, args.max_words)
    scorer = teacher.scorer(prompt, spec.verbalizers)

    started = time.perf_counter()
    ours = scorer.logprobs(texts, cache=None, batch_size=args.batch_size, progress=False)
    ours_seconds = time.perf_counter() - started

    started = time.perf_counter()
    naive = np.stack([naive_label_logprobs(teacher.model, scorer.prefix_ids, scorer.middle_ids(t), scorer.label_ids).numpy()
                      for t in texts])
    naive_seconds = time.perf_counter() - started

    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads; teacher {teacher.name}")
    print(f"{len(texts)} BBC News texts, {len(spec.labels)} labels (label tokens {[len(i) for i in scorer.label_ids]}), "
          f"first {args.max_words} words, batch {args.batch_size}")
    print(f"naive : {len(texts) / naive_seconds:6.2f} texts/s  ({naive_seconds:.1f} s)")
    print(f"ours  : {len(texts) / ours_seconds:6.2f} texts/s  ({ours_seconds:.1f} s)")
    print(f"speed-up: {naive_seconds / ours_seconds:.1f}x")
    print(f"max |p_ours - p_naive| over all texts and labels: {np.abs(softmax(ours) - softmax(naive)).max():.2e}")


if __name__ == "__main__":
    main()
