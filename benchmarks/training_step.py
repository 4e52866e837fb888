"""Cost of an LLKD training step against a plain fine-tuning step, on the same batches, in one run.

plain (textbook): forward, mean cross-entropy, backward, clip, AdamW step.
all   (our loop, keep everything): the shared loop with the keep-all strategy.
llkd  (our loop): the same loop with LLKD's thresholds and weights.

Each step is timed through the loop's progress hook; the first steps are warm-up and dropped. The
pseudo-labels here are gold labels with 40 % flipped and random confidences: timing only.

    python benchmarks/training_step.py [--steps 40] [--batch-size 16] [--max-length 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from llkd_nb.data import get_spec, load_dataset_frame, split_dataset
from llkd_nb.selection import make_strategy
from llkd_nb.training import TrainConfig, TrainingData, textbook_fine_tuning, train_student

WARMUP = 3


class StepTimer:
    """Plugged in as the loop's ``progress``: records the time of every optimizer step."""

    def __init__(self) -> None:
        self.marks = [time.perf_counter()]

    def update(self, _: int) -> None:
        self.marks.append(time.perf_counter())

    def per_step(self) -> np.ndarray:
        return np.diff(self.marks)[WARMUP:]


def textbook_steps(data: TrainingData, config: TrainConfig) -> np.ndarray:
    timer = StepTimer()
    textbook_fine_tuning(data, config, on_step=lambda: timer.update(1))
    return timer.per_step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=32)
    args = parser.parse_args()

    spec = get_spec("bbc_news")
    splits = split_dataset(load_dataset_frame(spec), seed=0, pool_size=400, validation_size=50, test_size=50)
    rng = np.random.default_rng(0)
    gold = lambda f: f["label"].map(spec.label_index).to_numpy()  # noqa: E731
    noisy = gold(splits.pool).copy()
    flip = rng.random(len(noisy)) < 0.4
    noisy[flip] = rng.integers(0, 5, flip.sum())
    data = TrainingData(5, splits.pool["text"].tolist(), noisy, rng.uniform(0.2, 1.0, len(noisy)),
                        splits.validation["text"].tolist(), gold(splits.validation), gold(splits.validation),
                        splits.test["text"].tolist(), gold(splits.test))
    config = TrainConfig(max_steps=args.steps, batch_size=args.batch_size, max_length=args.max_length,
                         eval_every=10 * args.steps, eval_test_during_training=False, device="cpu")

    timings = {"plain (textbook loop)": textbook_steps(data, config)}
    batches = {}
    for name in ("all", "llkd"):
        timer = StepTimer()
        result = train_student(data, make_strategy(name), config, progress=timer)
        timings[f"{name} (shared loop)"] = timer.per_step()
        batches[name] = len(result.steps) / result.metrics["steps"]
    plain = np.median(timings["plain (textbook loop)"])
    print(f"{args.steps} steps (first {WARMUP} dropped), batch {args.batch_size} x {args.max_length} tokens, "
          f"{torch.get_num_threads()} torch threads")
    for name, seconds in timings.items():
        print(f"{name:24s} median {np.median(seconds) * 1000:7.1f} ms/step   ratio to plain {np.median(seconds) / plain:.3f}")
    llkd_per_batch = np.median(timings["llkd (shared loop)"]) / batches["llkd"]
    print(f"llkd drew {batches['llkd']:.2f} batches per optimizer step (batches that keep nothing make no step); "
          f"per batch drawn: {llkd_per_batch * 1000:.1f} ms, ratio to plain {llkd_per_batch / plain:.3f}")


if __name__ == "__main__":
    main()
