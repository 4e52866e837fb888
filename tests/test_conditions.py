"""Notebook 05's ladder and grid: the simulations do what they say, and the grid runs end to end."""

import numpy as np
import pandas as pd
import pytest

from llkd_nb.core.data import DataConfig, load_splits
from llkd_nb.core.metrics import confidence_auroc
from llkd_nb.core.validation import ParameterError
from llkd_nb.experiments.conditions import (
    ConditionResults, ConditionsConfig, chance_macro_f1, chance_sentence, conclusion, edge_sentence, holm_by_family, paper_regime, proxy_conditions, real_conditions, regime_margins,
    run_conditions, simulated_conditions, simulation_check, teacher_table,
)
from llkd_nb.experiments.methods import LLKD_ROW, comparison_methods, method_named
from llkd_nb.experiments.simulation import (
    calibrated_teacher, error_confusion, labels_at_accuracy, reorder_to_auroc,
)
from llkd_nb.experiments.tuning import LEARNING_RATE, LEARNING_RATES
from llkd_nb.student.training import TrainConfig
from llkd_nb.teacher.artifacts import build_artifact

LABELS = ["business", "entertainment", "politics", "sports", "tech"]


@pytest.fixture(scope="module")
def artifact():
    splits = load_splits(DataConfig(pool_size=30, validation_size=10, test_size=10))
    rng = np.random.default_rng(0)
    raw = {name: rng.dirichlet(np.ones(5), len(frame)) for name, frame in splits.frames().items()}
    return build_artifact(splits.frames(), raw, LABELS, "batch", np.full(5, 0.2),
                          {"dataset": "bbc_news", "teacher_config": {"num_examples": 0}})


def test_simulation_keeps_the_real_labels_and_confidences_and_sets_the_auroc():
    rng = np.random.default_rng(1)
    probs, gold = rng.dirichlet(np.ones(4) * 0.5, 3000), rng.integers(0, 4, 3000)
    labels = probs.argmax(axis=1)
    for auroc in (0.55, 0.8, 0.95):
        simulated = reorder_to_auroc(probs, labels, labels == gold, auroc, np.random.default_rng(0))
        np.testing.assert_array_equal(simulated.argmax(axis=1), labels)  # every mistake is the real teacher's
        np.testing.assert_allclose(np.sort(simulated.max(axis=1)), np.sort(probs.max(axis=1)))  # its confidences
        np.testing.assert_allclose(np.sort(simulated, axis=1)[np.argsort(simulated.max(axis=1))],
                                   np.sort(probs, axis=1)[np.argsort(probs.max(axis=1))])  # and its shapes
        assert confidence_auroc(simulated.max(axis=1), labels == gold) == pytest.approx(auroc, abs=1e-3)
        for label in range(4):  # each class keeps its own confidence levels, so per-class selections see them
            np.testing.assert_allclose(np.sort(simulated.max(axis=1)[labels == label]), np.sort(probs.max(axis=1)[labels == label]))
    # Class 0 confident and always wrong, class 1 unsure and always right: no order within a class lifts the
    # AUROC above 0, so a target of 0.8 gets the nearest it can have instead of an error.
    apart = np.repeat([[0.9, 0.1], [0.4, 0.6]], 10, axis=0) + np.linspace(0, 0.01, 20)[:, None] * [[-1, 1]]
    labels, right = np.repeat([0, 1], 10), np.repeat([False, True], 10)
    nearest = reorder_to_auroc(apart, labels, right, 0.8, np.random.default_rng(0))
    assert confidence_auroc(nearest.max(axis=1), right) == 0.0 and (nearest.argmax(axis=1) == labels).all()
    # A class of one text, and an empty split (a pool-only dataset's test set), go through unchanged in shape.
    lone = reorder_to_auroc(probs[:50], np.r_[np.zeros(49, int), 3], np.arange(50) % 2 == 0, 0.7, np.random.default_rng(0))
    assert lone.argmax(axis=1)[-1] == 3 and np.allclose(lone[-1].max(), probs[49].max())
    assert reorder_to_auroc(probs[:0], labels[:0], right[:0], 0.7, np.random.default_rng(0)).shape == (0, 4)


def test_simulation_changes_only_the_labels_it_must_to_reach_an_accuracy():
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 4, 1000)
    labels = np.where(rng.random(1000) < 0.5, gold, (gold + 1) % 4)
    confusion = error_confusion(labels, gold, 4)
    for accuracy in (0.3, 0.5, 0.8):
        moved = labels_at_accuracy(labels, gold, accuracy, confusion, np.random.default_rng(0))
        assert (moved == gold).mean() == pytest.approx(accuracy, abs=1e-3)
        assert (moved != labels).sum() == abs(round(accuracy * 1000) - (labels == gold).sum())
        assert ((moved != gold) & (moved != labels) & (moved != (gold + 1) % 4)).sum() == 0  # wrong as the teacher is


def test_the_ladder_names_each_kind_and_labels_the_same_texts(artifact):
    splits = load_splits(DataConfig(pool_size=30, validation_size=10, test_size=10))
    proxies = proxy_conditions(splits, artifact, [10, 20])
    simulated = simulated_conditions(artifact, [None], [None, 0.9])
    assert [c.kind for c in proxies] == ["proxy", "proxy"] and [c.kind for c in simulated] == ["simulated"] * 2
    assert simulated[0].name.startswith("simulated twin") and not simulated[1].name.startswith("simulated twin")
    assert all(c.simulated for c in simulated) and not any(c.simulated for c in proxies)
    texts = artifact.identity()["texts"]
    assert all(c.artifact.identity()["texts"] == texts for c in proxies + simulated)
    table = teacher_table(real_conditions(artifact) + proxies + simulated)
    assert list(table["kind"]) == ["real", "real", "proxy", "proxy", "simulated", "simulated"]
    assert table.loc[simulated[1].name, "auroc"] == pytest.approx(0.9, abs=1 / 30)


def test_real_conditions_recalibrate_without_relabeling(artifact):
    names = [c.name for c in real_conditions(artifact)]
    assert names == ["zero-shot, raw", "zero-shot, batch calibration"]
    raw = real_conditions(artifact)[0].artifact
    np.testing.assert_allclose(raw.confidence("test"), artifact.raw_probs("test").max(axis=1))
    assert not any(c.simulated for c in real_conditions(artifact))


@pytest.mark.parametrize("values, message", [
    ({"budgets": []}, "budgets"), ({"budgets": [10, 0]}, "budgets"), ({"simulated_accuracies": [1.2]}, "simulated"),
    ({"simulated_aurocs": [0.4]}, "simulated_aurocs"), ({"proxy_sizes": [0]}, "proxy_sizes"),
    ({"few_shot": -1}, "few_shot"), ({"paper_regime_seeds": 1}, "paper_regime_seeds"),
    ({"paper_regime_max_length": "long"}, "paper_regime_max_length"),
    ({"paper_regime_evals": 0}, "paper_regime_evals"),
    ({"proxy_sizes": [10, 30]}, "proxy_sizes: the map's rule needs at least 4 real and proxy teachers"),
])
def test_bad_grid_parameters_are_named(values, message):
    with pytest.raises(ParameterError, match=message):
        ConditionsConfig(**values)


def test_the_simulations_are_a_holm_family_of_their_own():
    cells = pd.DataFrame({"kind": ["real", "proxy", "simulated", "simulated"], "llkd_minus": [0.1] * 4,
                          "se": [0.04] * 4, "df": [9] * 4, "p_raw": [0.01, 0.04, 0.01, 0.04]})
    corrected = holm_by_family(cells)
    assert list(corrected["family"]) == ["confirmatory"] * 2 + ["exploratory"] * 2
    assert corrected["p_holm"].tolist() == pytest.approx([0.02, 0.04, 0.02, 0.04])  # two families of two, not one of four


def test_every_method_of_a_cell_trains_at_the_learning_rate_tuned_for_that_teacher_and_budget(artifact, monkeypatch):
    from llkd_nb.experiments import compare, conditions, tuning

    tuned = {2: 0.0123, 3: 0.0456}
    monkeypatch.setattr(conditions, "tune_rate", lambda method, data, features, config, seeds, cache=None, extend=False: tuning.Tuned(
        LEARNING_RATE, {"lr": tuned[config.max_steps]}, [], list(seeds), ""))
    monkeypatch.setattr(conditions, "tune", lambda methods, *args, **kwargs: {
        method.name: tuning.Tuned(method.name, method.grid[0], [], [], "") for method in methods})
    seen = []

    def record(artifact, methods, seeds, config, *args, **kwargs):
        seen.append((config.max_steps, config.lr))
        raise StopIteration  # enough: the cell's runs were asked for at this learning rate

    monkeypatch.setattr(compare, "run_methods", record)
    methods = [method_named(comparison_methods(with_ceiling=False), name) for name in ("all pseudo-labels", LLKD_ROW)]
    for budget in (2, 3):
        with pytest.raises(StopIteration):
            run_conditions(real_conditions(artifact)[1:], methods, [budget], [0], [100], TrainConfig(device="cpu"),
                           replicates=10, progress=False)
    assert seen == [(2, 0.0123), (3, 0.0456)]


def test_the_grid_tunes_every_budget_and_runs_every_method_and_teacher(artifact):
    conditions = real_conditions(artifact)[1:] + simulated_conditions(artifact, [None], [None])
    methods = [method_named(comparison_methods(with_ceiling=False), name)
               for name in ("all pseudo-labels", "fixed confidence threshold", LLKD_ROW)]
    config = TrainConfig(max_length=16, batch_size=4, num_evals=1, device="cpu")
    results = run_conditions(conditions, methods, [2, 3], [0, 1], [100], config, replicates=100, progress=False)
    assert {"p_raw", "p_holm", "low_raw", "low", "verdict", "kind", "seeds"} <= set(results.cells.columns)
    assert results.cells.loc[results.cells["method"] != LLKD_ROW, "p_holm"].notna().all()
    assert len(results.runs) == len(conditions) * 2 * len(methods) * 2
    tuned = results.tuning  # the learning rate, then every method with a grid, at every budget for every teacher
    assert len(tuned) == len(conditions) * 2 * 3 and set(tuned["budget"]) == {2, 3}
    assert results.chosen(conditions[0].name, 3).keys() == {LEARNING_RATE, "fixed confidence threshold", LLKD_ROW}
    assert results.chosen(conditions[0].name, 3)[LEARNING_RATE]["lr"] in LEARNING_RATES
    best = results.best_other()
    assert len(best) == len(conditions) * 2 and LLKD_ROW not in set(best["method"])
    for _, cell in best.iterrows():  # the best other is chosen by validation, among the non-LLKD rows of its cell
        cell_rows = results.cells[(results.cells["condition"] == cell["condition"]) & (results.cells["budget"] == cell["budget"])
                                  & (results.cells["method"] != LLKD_ROW)]
        assert cell["val_macro_f1_mean"] == cell_rows["val_macro_f1_mean"].max()
    text = conclusion(best, teacher_table(conditions))
    assert "With the real teachers" in text and "With the calibrated simulations" in text and "at 3 steps" in text
    check = simulation_check(results.cells, conditions[0].name, conditions[1].name)
    assert len(check) == 2 * len(methods) and check["inside"].dtype == bool
    twin = results.cells[results.cells["condition"] == conditions[1].name].set_index(["budget", "method"])["macro_f1_mean"]
    assert (check.set_index(["budget", "method"])["simulated_mean"] == twin).all()
    assert (check["inside"] == ((check["real_low"] <= twin.to_numpy()) & (twin.to_numpy() <= check["real_high"]))).all()
    regime = paper_regime(conditions[:1], results, 3, [0, 1], config, max_length=16, num_evals=2, replicates=100, progress=False, methods=methods)
    assert list(regime["student"]) == ["map's student", "paper's student"]
    assert regime["verdict"].notna().all() and (regime["best other"] == best.iloc[1]["method"]).all()
    words = regime_margins(regime)
    assert words.startswith("LLKD's margin (Holm over these 2 rows) at ") and words.count(" vs map's student ") == 1
    assert f"paper's student {regime.iloc[1]['llkd_minus']:+.3f} [{regime.iloc[1]['low']:+.3f}, " in words


def test_the_calibrated_simulation_hits_its_targets_and_errs_where_the_real_teacher_does():
    """Fitted to a real teacher (a TF-IDF proxy here): accuracy and confidence AUROC on every split within
    0.02 of the targets, the real teacher's own by default (then with its very labels); changed labels
    follow its confusion matrix."""
    from llkd_nb.experiments.analysis import teacher_scores
    from llkd_nb.core.data import DataConfig, get_spec, load_splits
    from llkd_nb.experiments.proxy_teacher import proxy_teacher_artifact
    from llkd_nb.experiments.simulation import calibrated_teacher, error_confusion

    labels = list(get_spec("bbc_news").labels)
    real = proxy_teacher_artifact(load_splits(DataConfig(pool_size=500, validation_size=50, test_size=100)), labels, n=20)
    real_scores = teacher_scores(real, "pool").loc["none"]
    for accuracy, auroc in ((None, None), (0.7, 0.68), (0.7, 0.80), (0.5, 0.90)):
        simulated = calibrated_teacher(real, accuracy, auroc)
        for split in ("pool", "validation", "test"):
            scores = teacher_scores(simulated, split).loc["none"]
            assert abs(scores["accuracy"] - (accuracy or teacher_scores(real, split).loc["none", "accuracy"])) <= 0.02
            assert abs(scores["auroc"] - (auroc or real_scores["auroc"])) <= 0.02
            assert np.allclose(np.sort(simulated.confidence(split)), np.sort(real.confidence(split)))  # reordered only
        if accuracy is None:
            assert (simulated.pseudo_labels("pool") == real.pseudo_labels("pool")).all()
    simulated = calibrated_teacher(real, 0.5, 0.8)
    gold = real.gold("pool")
    confusions = [error_confusion(a.probs("pool").argmax(axis=1), gold, 5) for a in (real, simulated)]
    assert np.abs(confusions[0] - confusions[1]).mean() < 0.1
    with pytest.raises(ParameterError, match=r"must lie in \(0.5, 1\)"):
        calibrated_teacher(real, 0.7, 0.45)  # below chance: confidence would rank errors first


def test_the_grid_without_tuning_and_with_a_repeated_teacher(artifact):
    conditions = real_conditions(artifact)[1:]
    methods = [method_named(comparison_methods(with_ceiling=False), name) for name in ("all pseudo-labels", LLKD_ROW)]
    config = TrainConfig(max_length=16, batch_size=4, num_evals=1, device="cpu")
    results = run_conditions(conditions, methods, [2], [0, 1], [100], config, replicates=100, tune_methods=False,
                             progress=False)
    assert results.tuning.empty and list(results.tuning.columns) == ["condition", "budget", "method", "params", "edge",
                                                                "open_edge"]
    assert results.chosen(conditions[0].name, 2) == {}
    with pytest.raises(ValueError, match="share a name"):
        run_conditions(conditions * 2, methods, [2], [0, 1], [100], config, replicates=100, progress=False)


def test_chance_is_the_macro_f1_of_guessing():
    from sklearn.metrics import f1_score

    labels = np.repeat([0, 1, 2], [60, 30, 10])
    rng = np.random.default_rng(0)
    guessed = np.mean([f1_score(labels, rng.integers(0, 3, len(labels)), average="macro") for _ in range(2000)])
    assert abs(chance_macro_f1(labels, 3) - guessed) < 0.01
    assert chance_macro_f1(np.arange(100) % 5, 5) == pytest.approx(0.2)


def _cells(means: dict, std: float = 0.02, seeds: int = 10) -> pd.DataFrame:
    """Cells of proxy teachers: {(teacher, budget): (LLKD's mean, the other method's mean)}."""
    rows = []
    for (teacher, budget), pair in means.items():
        for method, mean in zip((LLKD_ROW, "all pseudo-labels"), pair):
            rows.append({"condition": teacher, "kind": "proxy", "budget": budget, "method": method, "macro_f1_mean": mean,
                         "macro_f1_std": std, "val_macro_f1_mean": mean, "seeds": seeds, "starved_runs": 0,
                         **({} if method == LLKD_ROW else {"llkd_minus": pair[0] - mean, "se": 0.01, "df": 9.0,
                                                          "p_raw": 0.5, "low_raw": -0.02, "high_raw": 0.02})})
    return pd.DataFrame(rows)


def test_cells_at_chance_leave_the_map_and_too_few_left_is_a_clear_error():
    above = {(f"proxy {n}", 40): (0.6, 0.55) for n in range(4)}
    at = {(f"proxy {n}", 20): (0.21, 0.2) for n in range(4)}  # within seed noise of 0.2 for both methods
    results = ConditionResults(runs=pd.DataFrame(), cells=_cells({**above, **at}), tuning=pd.DataFrame())
    table = results.at_chance(0.2)
    assert table.set_index(["condition", "budget"])["at_chance"].to_dict() == {**{k: False for k in above}, **{k: True for k in at}}
    assert set(results.best_other(0.2)["budget"]) == {40} and len(results.best_other()) == 8
    words = chance_sentence(table)
    assert words.startswith("4 of 8 teacher x budget cells are at chance") and "At 20 steps every cell is" in words
    assert chance_sentence(results.at_chance(0.1)).startswith("No teacher x budget cell is at chance")
    only_two = ConditionResults(runs=pd.DataFrame(), cells=_cells({**at, ("proxy 0", 40): (0.6, 0.5), ("proxy 1", 40): (0.6, 0.5)}),
                                tuning=pd.DataFrame())
    with pytest.raises(ValueError, match="budgets: fewer than 4 real and proxy teachers have a cell above chance"):
        only_two.best_other(0.2)


def test_the_edge_sentence_counts_open_edges_and_hard_limits():
    tuning = pd.DataFrame({"edge": ["", "keep=0.9 is one step past", "student_momentum=0.0 is a hard limit", ""],
                           "open_edge": [False, True, False, False]})
    words = edge_sentence(tuning)
    assert words.startswith("1 of 4 tuned choices (25%) sit at an edge of their grid that is no hard limit")
    assert "keep=0.9 is one step past (1x)" in words and words.endswith("1 sit at a hard limit of their knob, past which nothing lies.")
    assert edge_sentence(tuning.assign(edge="", open_edge=False)).startswith("0 of 4 tuned choices (0%)")
