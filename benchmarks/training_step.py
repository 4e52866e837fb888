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

Each configuration runs ``--repeats`` times, in reversed order every other repeat; a repeat's figure is
the mean time per optimizer step (the steps after the first few, which warm up, timed together) divided by
the gradient samples of a step. The table reports the
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
from llkd_nb.experiments.conditions import ConditionsConfig
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

    def mean_step(self) -> float:
        return float(np.mean(np.diff(self.marks)[WARMUP:]))


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
NAIVE_WAYS = {  # a row of the loop's own naive way: the switch that turns its speed-up off (owner, name, value)
    "all (multi-tensor AdamW)": ("all", training, "FUSED_ADAMW_DEVICES", ()),
    "llkd (pass per batch)": ("llkd", training._Selector, "score_ahead", False),
}


def shared_loop(data, config, features, name: str, steps: int) -> tuple[float, "training.Costs"]:
    """Seconds per gradient sample of one run of the shared loop with strategy ``name``, and its costs."""
    timer = StepTimer()
    result = train_student(data, make_strategy(name), config, features, progress=timer)
    return timer.mean_step() / (result.costs.gradient_samples / steps), result.costs


def naive_way(data, config, features, row: str, steps: int) -> float:
    """:func:`shared_loop` with the speed-up of ``row`` (:data:`NAIVE_WAYS`) switched off, then on again."""
    name, owner, switch, naive_value = NAIVE_WAYS[row]
    kept = getattr(owner, switch)
    setattr(owner, switch, naive_value)
    try:
        return shared_loop(data, config, features, name, steps)[0]
    finally:
        setattr(owner, switch, kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=max(ConditionsConfig().budgets),
                        help="default: notebook 05's longest budget, where LLKD reads most")
    parser.add_argument("--repeats", type=int, default=3)
    readme_argument(parser)
    args = parser.parse_args()

    data = benchmark_data()
    config = TrainConfig(max_steps=args.steps, num_evals=1, device="cpu")  # notebook 04's protocol and student
    features = DataFeatures.encode(data, config)
    per_sample: dict[str, list[float]] = {name: [] for name in LOOPS}
    drawn_per_gradient_sample = []
    def textbook(first_token_only: bool) -> float:
        timer = StepTimer()
        textbook_fine_tuning(data, config, features, on_step=lambda: timer.update(1), first_token_only=first_token_only)
        return timer.mean_step() / config.batch_size

    def llkd() -> float:
        seconds, costs = shared_loop(data, config, features, "llkd", args.steps)
        drawn_per_gradient_sample.append(costs.drawn / costs.gradient_samples)
        return seconds

    rows = {"naive (textbook loop, HF forward)": lambda: textbook(False), "plain (textbook loop)": lambda: textbook(True),
            "all (shared loop)": lambda: shared_loop(data, config, features, "all", args.steps)[0],
            "llkd (shared loop)": llkd,
            **{row: (lambda row=row: naive_way(data, config, features, row, args.steps)) for row in NAIVE_WAYS}}
    for repeat in range(args.repeats):
        for row in (list(rows) if repeat % 2 == 0 else list(rows)[::-1]):  # neither way always runs first
            per_sample[row].append(rows[row]())
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
