"""Strategies against values computed by hand on a small synthetic batch sequence."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from llkd_nb.core.validation import ParameterError
from llkd_nb.student.selection import STRATEGIES, BatchSignals, LLKD, make_strategy, normalised


def signals(pseudo, conf, unc, loss=None, progress=0.0, k=2):
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return BatchSignals(pseudo_label=torch.tensor(pseudo), confidence=t(conf), uncertainty=t(unc),
                        loss=t(loss if loss is not None else [0.0] * len(pseudo)), num_labels=k, progress=progress)


BATCH1 = signals([0, 0, 1, 1], [0.9, 0.5, 0.8, 0.6], [0.5, 0.3, 0.9, 0.2])
BATCH2 = signals([0, 1], [0.3, 1.0], [0.9, 0.1])


def run(strategy, *batches):
    strategy.fit_pool(np.array([0.5]), np.array([0]), 2)
    out = []
    for batch in batches:
        strategy.update(batch)
        out.append(normalised(strategy.weights(batch)))  # as the training loop scales every strategy's weights
    return out


def test_llkd_thresholds_and_weights_by_hand():
    llkd = LLKD(momentum=0.5)
    w1, w2 = run(llkd, BATCH1, BATCH2)
    # batch 1 starts every average at its statistics:
    #   teacher g = 0.7, class means 0.7 / 0.7 -> tau_T = [0.7, 0.7]
    #   student g = 0.475, class means 0.4 / 0.55 -> tau_S = 0.475 * [0.4/0.55, 1]
    #   keep = c >= tau_T and u >= tau_S -> samples 0 and 2; weights c*u = 0.45, 0.72 normalised to mean 1
    assert torch.allclose(w1, torch.tensor([0.45 * 2 / 1.17, 0, 0.72 * 2 / 1.17, 0], dtype=torch.float64))
    # batch 2 (momentum 0.5): teacher g = 0.675, class means 0.5 / 0.85 -> tau_T = [0.675*0.5/0.85, 0.675]
    #   student g = 0.4875, class means 0.65 / 0.325 -> tau_S = [0.4875, 0.24375]
    state = llkd.state()
    assert state["tau_T/0"] == pytest.approx(0.675 * 0.5 / 0.85) and state["tau_T/1"] == pytest.approx(0.675)
    assert state["tau_S/0"] == pytest.approx(0.4875) and state["tau_S/1"] == pytest.approx(0.24375)
    # sample 0 fails the teacher (0.3 < 0.397), sample 1 the student (0.1 < 0.244): nothing kept
    assert torch.equal(w2, torch.zeros(2, dtype=torch.float64))


def test_llkd_halves_and_weight_forms():
    assert torch.equal(run(LLKD(momentum=0.5, use_student=False, weighting="none"), BATCH1)[0],
                       torch.tensor([1.0, 0, 1, 0], dtype=torch.float64))
    student_only = run(LLKD(momentum=0.5, use_teacher=False, weighting="none"), BATCH1)[0]
    assert torch.equal(student_only, torch.tensor([1.0, 0, 1, 0], dtype=torch.float64))  # u >= [0.345, 0.475]
    mean = run(LLKD(momentum=0.5, weighting="mean"), BATCH1)[0]
    assert torch.allclose(mean, torch.tensor([2 * 0.7 / 1.55, 0, 2 * 0.85 / 1.55, 0], dtype=torch.float64))


def test_each_llkd_ablation_differs_from_llkd_by_exactly_one_switch():
    """A half keeps LLKD's weights c*u (turning a threshold off does not also turn the student's uncertainty out
    of the weights), and every ablation row differs from LLKD's in one parameter."""
    from llkd_nb.experiments.methods import comparison_methods, method_by_id

    teacher_only = run(LLKD(momentum=0.5, use_student=False), BATCH1)[0]
    # keeps c >= tau_T = [0.7, 0.7]: samples 0 and 2, weights c*u = 0.45 and 0.72, as LLKD's
    assert torch.allclose(teacher_only, torch.tensor([0.45 * 2 / 1.17, 0, 0.72 * 2 / 1.17, 0], dtype=torch.float64))
    assert LLKD(use_student=False).needs_student and not LLKD(use_student=False, weighting="none").needs_student
    rows = comparison_methods()
    llkd = LLKD(**method_by_id(rows, "llkd").params)
    switches = [f.name for f in dataclasses.fields(LLKD) if f.init]
    for ablation in (row for row in rows if row.ablation_of == "llkd"):
        flipped = [k for k in switches if getattr(LLKD(**ablation.params), k) != getattr(llkd, k)]
        assert len(flipped) == 1, (ablation.id, flipped)


@pytest.mark.parametrize("confidences", [
    np.random.default_rng(0).beta(2, 10, 600),   # a weak teacher: mean confidence about 0.17
    np.random.default_rng(1).beta(3, 5, 1000),   # a calibrated LLM on ten classes: about 0.37
    np.random.default_rng(2).beta(10, 2, 600),   # a confident teacher: about 0.83
])
def test_the_fixed_threshold_grid_spans_every_teachers_confidences(confidences):
    """The grid's extremes keep between 10 % and 90 % of the pool, whatever the teacher's confidences."""
    from llkd_nb.experiments.methods import comparison_methods, method_by_id

    grid = method_by_id(comparison_methods(), "fixed_threshold").grid
    labels = np.zeros(len(confidences), dtype=int)
    for point in (grid[0], grid[-1]):
        strategy = make_strategy("fixed_threshold", **point)
        strategy.fit_pool(confidences, labels, 2)
        kept = strategy.weights(signals(labels.tolist(), confidences.tolist(), [0.5] * len(labels))).mean().item()
        assert 0.1 <= kept <= 0.9 and kept == pytest.approx(point["keep"], abs=0.01), (point, kept)


def test_past_the_fixed_threshold_grid_lies_what_its_row_says():
    """Past the first share: all of the pool, as all pseudo-labels; past the last: none, a starved run."""
    confidences = np.random.default_rng(0).beta(2, 5, 200)
    labels = np.zeros(200, dtype=int)
    batch = signals(labels.tolist(), confidences.tolist(), [0.5] * 200)
    for share, expected in ((1.0, 1.0), (0.0, 0.0)):
        strategy = make_strategy("fixed_threshold", keep=share)
        strategy.fit_pool(confidences, labels, 2)
        assert strategy.weights(batch).mean().item() == expected


def test_llkd_prior_initialisation():
    llkd = LLKD(momentum=0.5, init="prior")
    run(llkd, BATCH1)
    state = llkd.state()
    # teacher starts at 1/K = 0.5: g = m(0) = m(1) = 0.6; student starts at 1: g = 0.7375, m = [0.7, 0.775]
    assert state["tau_T/0"] == pytest.approx(0.6) and state["tau_T/1"] == pytest.approx(0.6)
    assert state["tau_S/0"] == pytest.approx(0.7375 * 0.7 / 0.775) and state["tau_S/1"] == pytest.approx(0.7375)


def test_llkd_quantile_teacher_level_is_per_class_and_static():
    llkd = LLKD(teacher_level="quantile", quantile=0.5, use_student=False, weighting="none")
    llkd.fit_pool(np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.7]), np.array([0, 0, 0, 0, 1, 1]), 2)
    llkd.update(BATCH1)
    assert llkd.state() == {"tau_T/0": pytest.approx(0.25), "tau_T/1": pytest.approx(0.8)}
    assert torch.equal(llkd.weights(BATCH1), torch.tensor([1.0, 1, 1, 0], dtype=torch.float64))


def test_llkd_kept_ema_follows_only_kept_samples():
    llkd = LLKD(momentum=0.5, teacher_level="kept_ema", use_student=False, weighting="none")
    run(llkd, BATCH1, BATCH1)
    # batch 1 starts from all samples (g = 0.7); batch 2 keeps samples 0 and 2 (c = 0.9, 0.8):
    # g = 0.5 * 0.7 + 0.5 * 0.85 = 0.775; class 0: 0.5*0.7 + 0.5*0.9 = 0.8; class 1: 0.5*0.7 + 0.5*0.8 = 0.75
    assert llkd.state()["tau_T/0"] == pytest.approx(0.775) and llkd.state()["tau_T/1"] == pytest.approx(0.775 * 0.75 / 0.8)


def test_baselines_by_hand():
    batch = signals([0, 0, 1, 1], [0.9, 0.5, 0.8, 0.6], [0.5, 0.3, 0.9, 0.2], loss=[2.0, 0.1, 0.5, 1.5], progress=1.0)
    assert run(make_strategy("all"), batch)[0].tolist() == [1, 1, 1, 1]
    assert run(make_strategy("fixed_threshold", threshold=0.7), batch)[0].tolist() == [1, 0, 1, 0]
    assert run(make_strategy("small_loss", max_drop=0.5, ramp=0.3), batch)[0].tolist() == [0, 1, 1, 0]
    # self-paced at progress 1: lambda = log(2) * 3 = 2.079 -> all; at progress 0: log(2) = 0.693
    assert run(make_strategy("self_paced"), batch)[0].tolist() == [1, 1, 1, 1]
    early = signals([0, 0, 1, 1], [0.9, 0.5, 0.8, 0.6], [0.5, 0.3, 0.9, 0.2], loss=[2.0, 0.1, 0.5, 1.5], progress=0.0)
    assert run(make_strategy("self_paced"), early)[0].tolist() == [0, 1, 1, 0]
    topk = make_strategy("topk_per_class", fraction=0.5)
    topk.fit_pool(np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.7]), np.array([0, 0, 0, 0, 1, 1]), 2)
    assert topk.weights(batch).tolist() == [1, 1, 1, 0]  # per-class medians 0.25 and 0.8


def test_soft_weighting_by_hand():
    soft = make_strategy("soft_weighting")
    batch = signals([0, 0, 1, 1], [0.9, 0.5, 0.8, 0.6], [0.5, 0.3, 0.9, 0.2])
    weights = run(soft, batch)[0]
    mean, var = 0.7, np.var([0.9, 0.5, 0.8, 0.6], ddof=1)
    expected = np.array([1.0, math.exp(-(0.5 - mean) ** 2 / (2 * var)), 1.0, math.exp(-(0.6 - mean) ** 2 / (2 * var))])
    assert np.allclose(weights.numpy(), expected * 4 / expected.sum())  # raw weights, scaled to mean 1


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_is_normalised_the_same_way(name):
    """After the loop's scaling, every strategy's kept weights average 1: none changes the learning rate."""
    batch = signals([0, 0, 1, 1], [0.9, 0.5, 0.8, 0.6], [0.5, 0.3, 0.9, 0.2])
    strategy = make_strategy(name)
    for weights in run(strategy, batch, batch):
        kept = weights > 0
        assert not kept.any() or torch.isclose(weights[kept].mean(), torch.tensor(1.0, dtype=weights.dtype))


@pytest.mark.parametrize("name, params, message", [
    ("llkd", {"momentum": 1.0}, r"momentum must lie in \[0.0, 1.0\)"),
    ("llkd", {"momentum": "0.9"}, "momentum must be float"),
    ("llkd", {"weighting": "square"}, "weighting must be one of"),
    ("llkd", {"use_teacher": False, "use_student": False}, "needs use_teacher or use_student"),
    ("llkd", {"thresholds": 1}, r"unknown parameter\(s\) \['thresholds'\]"),
    ("fixed_threshold", {"threshold": 1.5}, "threshold must lie in"),
    ("magic", {}, "unknown strategy 'magic'"),
])
def test_bad_strategy_parameters(name, params, message):
    with pytest.raises(ParameterError, match=message):
        make_strategy(name, **params)
