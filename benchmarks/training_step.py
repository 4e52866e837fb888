"""Cost of LLKD per gradient sample against plain fine-tuning, under notebook 04's protocol, in one run.

naive   (textbook, Hugging Face forward): plain fine-tuning through the model's own forward, which
        computes the last layer at every token although the classifier reads only the first.
plain   (textbook): the same, with the last layer computed at the first token only (our student).
all     (our loop, keep everything): the shared loop with the keep-all strategy.
llkd    (our loop): the same loop with LLKD; with the full-batches protocol every update holds a full
        batch of kept samples, so LLKD reads more batches (and scores each with a no-gradient pass).
Two more rows measure the loop's own speed-ups against their naive way in the same run: the shared loop
with the multi-tensor AdamW instead of the fused one (keep-all), and LLKD with one no-gradient pass per
drawn batch instead of one pass for the batches a step is likely to draw.

Each configuration runs ``--repeats`` times; a repeat's figure is the median time per optimizer step
(first steps dropped as warm-up) divided by the gradient samples of a step. The table reports the
median over repeats and their spread (min-max). The pseudo-labels are gold labels with 40 % flipped
and random confidences: timing only.

    python benchmarks/training_step.py [--steps 160] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from readme_block import readme_argument, report

from llkd_nb.core.data import DataConfig, load_splits
from llkd_nb.core.runinfo import cpu_description
from llkd_nb.student.selection import make_strategy
from llkd_nb.student import training
from llkd_nb.student.training import (
    DataFeatures, TrainConfig, TrainingData, textbook_fine_tuning, train_student,
)

WARMUP = 3
LABELS = ["business", "entertainment", "politics", "sports", "tech"]


class StepTimer:
    """Plugged in as the loop's ``progress``: records the time of every optimizer step."""

    def __init__(self) -> None:
        self.marks = [time.perf_counter()]

    def update(self, _: int) -> None:
        self.marks.append(time.perf_counter())

    def median_step(self) -> float:
        return float(np.median(np.diff(self.marks)[WARMUP:]))


def benchmark_data() -> TrainingData:
    splits = load_splits(DataConfig(pool_size=400, validation_size=50, test_size=50))
    rng = np.random.default_rng(0)
    gold = lambda f: f["label"].map(LABELS.index).to_numpy()  # noqa: E731
    noisy = gold(splits.pool).copy()
    flip = rng.random(len(noisy)) < 0.4
    noisy[flip] = rng.integers(0, 5, flip.sum())
    return TrainingData(LABELS, splits.pool["text"].tolist(), noisy, rng.uniform(0.2, 1.0, len(noisy)),
                        splits.validation["text"].tolist(), gold(splits.validation), gold(splits.validation),
                        splits.test["text"].tolist(), gold(splits.test))


LOOPS = {  # the table's names
    "naive (textbook loop, HF forward)": "naive: textbook loop, Hugging Face forward",
    "plain (textbook loop)": "textbook loop, last layer at [CLS] only",
    "all (shared loop)": "shared loop, keep-all strategy",
    "all (multi-tensor AdamW)": "shared loop, keep-all, multi-tensor AdamW (naive of the fused update)",
    "llkd (shared loop)": "shared loop, LLKD",
    "llkd (pass per batch)": "shared loop, LLKD, one student pass per drawn batch (naive of scoring ahead)",
}
NAIVE_WAYS = {  # a row of the loop's own naive way: the switch that turns its speed-up off
    "all (multi-tensor AdamW)": ("all", "FUSED_ADAMW_DEVICES", ()),
    "llkd (pass per batch)": ("llkd", "score_ahead", False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=160, help="the map's longest budget: LLKD reads most there")
    parser.add_argument("--repeats", type=int, default=3)
    readme_argument(parser)
    args = parser.parse_args()

    data = benchmark_data()
    config = TrainConfig(max_steps=args.steps, num_evals=1, device="cpu")  # notebook 04's protocol and student
    features = DataFeatures.encode(data, config)
    per_sample: dict[str, list[float]] = {name: [] for name in LOOPS}
    drawn_per_gradient_sample = []
    for _ in range(args.repeats):
        for name, first_token_only in (("naive (textbook loop, HF forward)", False), ("plain (textbook loop)", True)):
            timer = StepTimer()
            textbook_fine_tuning(data, config, features, on_step=lambda: timer.update(1), first_token_only=first_token_only)
            per_sample[name].append(timer.median_step() / config.batch_size)
        for name in ("all", "llkd"):
            timer = StepTimer()
            result = train_student(data, make_strategy(name), config, features, progress=timer)
            per_sample[f"{name} (shared loop)"].append(timer.median_step() / (result.costs.gradient_samples / args.steps))
            if name == "llkd":
                drawn_per_gradient_sample.append(result.costs.drawn / result.costs.gradient_samples)
        for row, (name, switch, naive_value) in NAIVE_WAYS.items():
            owner = training._Selector if switch == "score_ahead" else training
            kept = getattr(owner, switch)
            setattr(owner, switch, naive_value)
            try:
                timer = StepTimer()
                result = train_student(data, make_strategy(name), config, features, progress=timer)
            finally:
                setattr(owner, switch, kept)
            per_sample[row].append(timer.median_step() / (result.costs.gradient_samples / args.steps))
    naive = np.median(per_sample["naive (textbook loop, HF forward)"])
    lines = [f"{args.steps} steps (first {WARMUP} dropped) x {args.repeats} repeats; batch {config.batch_size} x "
             f"{config.max_length} tokens; trainable layers {config.trainable_layers}; protocol {config.protocol}; "
             f"{cpu_description()}, {torch.get_num_threads()} torch threads; median over repeats (min-max):", "",
             "| loop | ms per gradient sample | spread | throughput vs naive |", "|---|---|---|---|"]
    for name, values in per_sample.items():
        values = np.asarray(values) * 1000
        lines.append(f"| {LOOPS[name]} | {np.median(values):.2f} | {values.min():.2f}-{values.max():.2f} | "
                     f"{naive / (np.median(values) / 1000):.2f}x |")
    lines += ["", f"LLKD read {np.median(drawn_per_gradient_sample):.2f} pool samples per gradient sample (each scored "
                  "by a no-gradient pass); the other loops read 1."]
    speedup = lambda fast, slow: np.median(per_sample[slow]) / np.median(per_sample[fast])  # noqa: E731
    lines += ["", f"The loop's own speed-ups, each against its naive way in this run: the fused AdamW update gives "
                  f"keep-all {speedup('all (shared loop)', 'all (multi-tensor AdamW)'):.2f}x the multi-tensor one's "
                  f"throughput; scoring the batches a step will draw in one pass gives LLKD "
                  f"{speedup('llkd (shared loop)', 'llkd (pass per batch)'):.2f}x one pass per drawn batch."]
    report(lines, "bench_training_step", args.readme)


if __name__ == "__main__":
    main()
