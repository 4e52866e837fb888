"""Sweeps on this machine's cores: W worker processes of 1 thread against 1 process of W threads, on the
same runs in one run of this script, and the paper-scale plan costed from the measured per-run times.

Two sweeps on ``--seeds`` seeds, no run cache (every run trains), features encoded once beforehand (the
notebooks do the same):
- notebook 04's: every row of its comparison but the gold ceiling, the default study's student and budget;
- notebook 05's: one map cell per budget of the default ladder (the map's rows), the map's student.
The two executors take turns, ``--repeats`` times; a figure is the median over repeats (range). The
pseudo-labels are gold labels with 40 % flipped and random confidences (timing only, as in
``training_step.py``).

The plan: the paper's student (the whole encoder, notebook 05's paper regime) is timed on a few runs, on
all the cores; its seconds per optimizer step, times the steps of every run a paper-scale study trains
(counted from the registry and the default study's keys), give its cost in core-hours of this CPU.

    python benchmarks/sweep.py [--seeds 2] [--repeats 2] [--readme papers/scale.md]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from readme_block import readme_argument, report
from training_step import benchmark_data

from llkd_nb.core.runinfo import cpu_description, use_threads
from llkd_nb.experiments.compare import ComparisonConfig
from llkd_nb.experiments.conditions import CONDITION_METHODS, ConditionsConfig
from llkd_nb.experiments.methods import Method, comparison_methods, method_named
from llkd_nb.experiments.sweep import LocalProcesses, RunRequest, Serial, available_cores, train_runs
from llkd_nb.experiments.tuning import LEARNING_RATES
from llkd_nb.student.training import DataFeatures, TrainConfig

PAPER_DATASETS = 5  # the paper's text-classification datasets
PAPER_RUN_STEPS = 30  # steps of each timed run of the paper's student


def sweep_requests(data, config: TrainConfig, methods: list[Method], budgets: list[int],
                   seeds: list[int]) -> list[RunRequest]:
    return [RunRequest(data, m.strategy, m.params, replace(config, max_steps=budget, seed=seed))
            for budget in budgets for m in methods for seed in seeds]


def timed(requests: list[RunRequest], features: DataFeatures, executor, threads: int) -> tuple[float, int]:
    """Seconds to train ``requests`` with the driver (and so every worker) at ``threads``, and their steps."""
    use_threads(threads)
    start = time.perf_counter()
    runs = train_runs(requests, features, executor=executor)
    return time.perf_counter() - start, sum(run.costs.optimizer_steps for run in runs)


def map_methods() -> list[Method]:
    return [method_named(comparison_methods(), name) for name in CONDITION_METHODS]


def study_runs() -> dict[str, tuple[int, int]]:
    """Runs of one dataset's study at the default keys, by part: (runs, optimizer steps each). Not counted:
    the retuning under gold model selection (only methods whose choice moves) and the paper regime's pairs."""
    rows = comparison_methods()  # the ceiling included: it trains on every seed
    comparison, ladder, train = ComparisonConfig(), ConditionsConfig(), TrainConfig()
    tuning, seeds = len(comparison.tuning_seeds), len(comparison.seeds)
    notebook_04 = ((len(LEARNING_RATES) + sum(len(m.grid) for m in rows)) * tuning + len(rows) * seeds
                   + (comparison.a_a_seeds - seeds) + 2 * seeds)  # A/A spare seeds, LLKD and one other, other protocol
    per_cell = (len(LEARNING_RATES) + sum(len(m.grid) for m in map_methods())) * tuning + len(map_methods()) * seeds
    rungs = 1 + len(ladder.proxy_sizes) + len(ladder.simulated_accuracies) * len(ladder.simulated_aurocs)
    parts = {"notebook 04: learning rate, grids, seeds, A/A, other protocol": (notebook_04, train.max_steps)}
    for budget in ladder.budgets:
        parts[f"notebook 05: {rungs} teachers at {budget} steps"] = (rungs * per_cell, budget)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    readme_argument(parser)
    args = parser.parse_args()

    cores = available_cores()
    data, config, seeds = benchmark_data(), TrainConfig(device="cpu"), list(range(args.seeds))
    features = DataFeatures.encode(data, config)
    rows = comparison_methods(with_ceiling=False)
    sweeps = {"notebook 04 (one budget)": sweep_requests(data, config, rows, [config.max_steps], seeds),
              "notebook 05 (one map cell per budget)": sweep_requests(data, config, map_methods(),
                                                                      ConditionsConfig().budgets, seeds)}
    executors = {f"1 process x {cores} threads": (Serial(), cores), f"{cores} workers x 1 thread": (LocalProcesses(cores), 1)}
    seconds = {(s, e): [] for s in sweeps for e in executors}
    for _ in range(args.repeats):
        for sweep, requests in sweeps.items():
            for name, (executor, threads) in executors.items():
                seconds[(sweep, name)].append(timed(requests, features, executor, threads)[0])

    serial_name, parallel_name = executors
    lines = [f"{cpu_description()}, {cores} cores; the rows each notebook trains x {args.seeds} seeds per "
             f"budget, no run cache; median over {args.repeats} repeats (range), the executors taking turns:", "",
             "| sweep | runs | executor | runs per minute | throughput vs 1 process |", "|---|---|---|---|---|"]
    for sweep, requests in sweeps.items():
        base = np.median(seconds[(sweep, serial_name)])
        for name in executors:
            values = np.asarray(seconds[(sweep, name)])
            rate = 60 * len(requests) / values
            lines.append(f"| {sweep} | {len(requests)} | {name} | {np.median(rate):.1f} ({rate.min():.1f}-{rate.max():.1f}) "
                         f"| {base / np.median(values):.2f}x |")

    ladder = ConditionsConfig()
    paper = replace(config, max_steps=PAPER_RUN_STEPS, trainable_layers=None, max_length=ladder.paper_regime_max_length,
                    num_evals=ladder.paper_regime_evals)
    paper_requests = [RunRequest(data, m.strategy, m.params, paper) for m in map_methods()]
    paper_seconds, paper_steps = timed(paper_requests, DataFeatures.encode(data, paper), Serial(), cores)
    per_step = paper_seconds / paper_steps
    parts = study_runs()
    core_hours = {part: PAPER_DATASETS * runs * steps * per_step * cores / 3600 for part, (runs, steps) in parts.items()}
    total_runs = PAPER_DATASETS * sum(runs for runs, _ in parts.values())
    lines += ["", f"**Costed plan at the paper's scale** ({PAPER_DATASETS} datasets; the default study's methods, grids, "
                  f"seeds and teacher ladder; every run with the paper's student: the whole encoder on "
                  f"{paper.max_length} tokens, measured here at {per_step * 1000:.0f} ms per optimizer step on "
                  f"{cores} threads over {len(paper_requests)} runs of {PAPER_RUN_STEPS} steps, evaluations included "
                  f"and scaled with the steps):", "",
              "| part (per dataset) | runs | steps each | core-hours, 5 datasets |", "|---|---|---|---|"]
    for part, (runs, steps) in parts.items():
        lines.append(f"| {part} | {runs} | {steps} | {core_hours[part]:.1f} |")
    total = sum(core_hours.values())
    lines += ["", f"In all {total_runs} runs, {total:.0f} core-hours of this CPU: "
                  + ", ".join(f"{total / workers:.1f} h on {workers} single-thread workers" for workers in (2, 16, 64))
                  + " if a single-thread worker does per core what the timed runs did on "
                  f"{cores} threads (the sweeps above measure that ratio for the map's student). Timed on the CPU: "
                    "GPU-hours need this script's paper-student timing on a GPU, not yet measured."]
    report(lines, "bench_sweep", args.readme)


if __name__ == "__main__":
    main()
