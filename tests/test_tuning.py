"""Equal tuning: every grid searched the same way on validation, saved, and reused only when valid."""

import pytest

import llkd_nb.experiments.tuning as tuning
from llkd_nb.experiments.methods import GRID_SIZE, Method, comparison_methods, method_named, with_tuned
from llkd_nb.experiments.tuning import Tuned, tune_all
from llkd_nb.student.training import TrainConfig

CONFIG = TrainConfig(max_length=16, batch_size=4, max_steps=3, num_evals=1, device="cpu")


@pytest.fixture(scope="module")
def artifact(random_teacher_artifact):
    return random_teacher_artifact(pool_size=16, validation_size=10, test_size=5)


def test_every_tuned_method_gets_a_grid_of_the_same_size():
    methods = comparison_methods()
    assert all(len(m.grid) == GRID_SIZE for m in methods if m.grid)
    ablations = {"adaptive teacher threshold only", "student uncertainty only", "LLKD without weights"}
    assert {m.name for m in methods if not m.grid} == {"all pseudo-labels", "gold labels (ceiling, uses gold)", *ablations}
    assert {m.name for m in methods if m.ablation_of == "llkd"} == ablations


def test_each_ablation_runs_at_llkds_tuned_parameters_with_one_switch_flipped():
    methods = with_tuned(comparison_methods(), {"LLKD": {"student_momentum": 0.0}, "top-k % per class": {"fraction": 0.3}})
    llkd = method_named(methods, "LLKD").params
    assert llkd["student_momentum"] == 0.0 and method_named(methods, "top-k % per class").params == {"fraction": 0.3}
    for name, switch in (("adaptive teacher threshold only", {"use_student": False}),
                         ("student uncertainty only", {"use_teacher": False}),
                         ("LLKD without weights", {"weighting": "none"})):
        params = method_named(methods, name).params
        assert {k: v for k, v in params.items() if llkd.get(k) != v} == switch, name
    with pytest.raises(ValueError, match=f"grid of {GRID_SIZE}"):
        Method("x", "x", "fixed_threshold", grid=({"threshold": 0.5},))


def test_tuning_picks_the_best_validation_score_and_is_reused(tmp_path, artifact, monkeypatch):
    method = Method("fixed_threshold", "fixed confidence threshold", "fixed_threshold",
                    grid=({"threshold": 0.0}, {"threshold": 0.3}, {"threshold": 0.6}, {"threshold": 0.99}))
    first = tune_all([method], artifact, CONFIG, [100, 101], tmp_path, progress=False)[method.name]
    table = first.table()
    assert len(table) == GRID_SIZE and table["chosen"].sum() == 1
    assert table.loc[table["chosen"], "validation macro-F1"].iloc[0] == table["validation macro-F1"].max()
    assert all(len(c["scores"]) == 2 for c in first.candidates)
    assert Tuned.load(tmp_path, method.name) == first

    def no_training(*args, **kwargs):
        raise AssertionError("a valid saved tuning must be reused, not recomputed")

    monkeypatch.setattr(tuning, "train_runs", no_training)
    assert tune_all([method], artifact, CONFIG, [100, 101], tmp_path, progress=False)[method.name] == first
    with pytest.raises(AssertionError, match="must be reused"):  # another budget invalidates the saved choice
        tune_all([method], artifact, TrainConfig(**{**CONFIG.__dict__, "max_steps": 4}), [100, 101], tmp_path, progress=False)


def test_a_candidate_that_starves_is_never_chosen(tmp_path, artifact):
    method = Method("fixed_threshold", "fixed confidence threshold", "fixed_threshold",
                    grid=({"threshold": 1.0}, {"threshold": 0.0}, {"threshold": 1.0}, {"threshold": 1.0}))
    tuned = tune_all([method], artifact, CONFIG, [100], tmp_path, progress=False)[method.name]
    assert tuned.chosen == {"threshold": 0.0}
    assert tuned.table()["starved seeds"].tolist() == [1, 0, 1, 1]


def test_a_choice_at_a_grid_edge_names_what_lies_past_it():
    llkd = method_named(comparison_methods(), "LLKD")
    assert llkd.edge(llkd.grid[1]) == ""
    assert "lower limit" in llkd.edge(llkd.grid[0]) and "first value" in llkd.edge(llkd.grid[0])
    assert all(all(m.beyond) and m.knob for m in comparison_methods() if m.grid)  # every tuned row names its knob and both edges


def test_an_edge_that_is_a_hard_limit_is_named_and_never_extended():
    llkd = method_named(comparison_methods(), "LLKD")
    assert "a hard limit" in llkd.edge(llkd.grid[0]) and not llkd.open_edge(llkd.grid[0])
    assert llkd.step_past(llkd.grid[0]) is None and llkd.step_past(llkd.grid[-1]) == {"student_momentum": 0.97}
    assert llkd.open_edge(llkd.grid[-1]) and not llkd.open_edge(llkd.grid[-1], extended=True)  # inside once extended
    assert "one step past the grid's last value" in llkd.edge({"student_momentum": 0.97}, extended=True)
    assert llkd.open_edge({"student_momentum": 0.97}, extended=True)
    with pytest.raises(ValueError, match="hard limit"):
        Method("x", "x", "fixed_threshold", grid=tuple({"keep": k} for k in (0.8, 0.6, 0.4, 0.2)),
               hard_limits=(True, False), past=({"keep": 0.9}, None))


class _Scored:
    """A finished run whose validation score is a function of its knob (no training)."""

    def __init__(self, score):
        self.starved, self.metrics = False, {"val_target_macro_f1": score}


def _fake_training(monkeypatch, score, trained):
    def train_runs(requests, features, cache=None, on_run=None):
        trained.extend(r.params.get("keep", r.config.lr) for r in requests)
        return [_Scored(score(r.params.get("keep", r.config.lr))) for r in requests]
    monkeypatch.setattr(tuning, "train_runs", train_runs)


@pytest.mark.parametrize("score, chosen, extra", [
    (lambda keep: keep, 0.9, [0.9]),  # the first end (0.8) wins: 0.9 is tried and wins
    (lambda keep: -abs(keep - 0.8), 0.8, [0.9]),  # 0.8 wins, 0.9 is tried and loses: 0.8 now lies inside
    (lambda keep: -abs(keep - 0.5), 0.6, []),  # an inside value wins: nothing more is trained
])
def test_tuning_extends_a_grid_past_an_end_that_won(monkeypatch, score, chosen, extra):
    method = method_named(comparison_methods(), "fixed confidence threshold")
    trained = []
    _fake_training(monkeypatch, score, trained)
    tuned = tuning.tune([method], None, None, CONFIG, [100, 101], extend=True)[method.name]
    assert tuned.chosen == {"keep": chosen}
    assert trained == [keep for keep in (0.8, 0.6, 0.4, 0.2) for _ in range(2)] + [keep for keep in extra for _ in range(2)]
    trained.clear()
    tuning.tune([method], None, None, CONFIG, [100], extend=False)
    assert trained == [0.8, 0.6, 0.4, 0.2]  # notebook 04's tuning: the grid only


def test_the_learning_rate_is_extended_past_an_end_that_won(monkeypatch):
    method = method_named(comparison_methods(), "all pseudo-labels")
    trained = []
    _fake_training(monkeypatch, lambda lr: lr, trained)  # the larger the better: 3e-3 wins, then 9e-3 past it
    tuned = tuning.tune_rate(method, None, None, CONFIG, [100], extend=True)
    assert tuning.rates_past() == (3e-5, 9e-3) and tuned.chosen == {"lr": 9e-3} and trained[-1] == 9e-3
    assert "one step past the grid's last value" in tuning.rate_edge(tuned.chosen, extended=True)
    assert tuning.rate_edge({"lr": tuning.LEARNING_RATES[-1]}, extended=True) == ""


def test_a_learning_rate_at_the_grids_edge_says_what_was_not_tried():
    assert tuning.rate_edge({"lr": tuning.LEARNING_RATES[1]}) == ""
    assert "first value; past it: a smaller learning rate" in tuning.rate_edge({"lr": tuning.LEARNING_RATES[0]})
    assert "last value; past it: a larger learning rate" in tuning.rate_edge({"lr": tuning.LEARNING_RATES[-1]})


def test_the_shared_learning_rate_is_tuned_once_on_all_pseudo_labels_and_reused(tmp_path, artifact, monkeypatch):
    method = method_named(comparison_methods(), "all pseudo-labels")
    tuned = tuning.tune_learning_rate(method, artifact, CONFIG, [100, 101], tmp_path, grid=(1e-4, 1e-2))
    table = tuned.table()
    assert list(table.index) == ["lr=0.0001", "lr=0.01"] and table["chosen"].sum() == 1
    assert tuned.chosen == {"lr": float(table["validation macro-F1"].idxmax().split("=")[1])}
    assert (tmp_path / "tuning" / "learning_rate.json").exists()
    monkeypatch.setattr(tuning, "train_runs", lambda *a, **k: pytest.fail("retrained a saved learning rate"))
    assert tuning.tune_learning_rate(method, artifact, CONFIG, [100, 101], tmp_path, grid=(1e-4, 1e-2)).chosen == tuned.chosen
    with pytest.raises(pytest.fail.Exception):  # another grid is another search
        tuning.tune_learning_rate(method, artifact, CONFIG, [100, 101], tmp_path, grid=(1e-4, 3e-2))
