"""One place per extension: a strategy declared in one module reaches every listing, the run cache keeps
what a change did not touch, a strategy draws from its own random stream, and a prompt is data."""

import importlib.util
import sys
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd
import pytest
import torch

import llkd_nb.experiments.runcache as runcache
from llkd_nb.core.validation import ParameterError
from llkd_nb.experiments.compare import run_methods
from llkd_nb.experiments.methods import comparison_methods, method_by_id, method_table, methods_markdown
from llkd_nb.experiments.runcache import RunCache
from llkd_nb.student.selection import PANELS, STRATEGIES, BatchSignals, Method, Strategy, make_strategy, register
from llkd_nb.student.training import TrainConfig, train_student
from llkd_nb.study.cli import main
from llkd_nb.teacher.config import TeacherConfig
from llkd_nb.teacher.prompts import BUILT_IN_TEMPLATES, build_prompt, load_template

CONFIG = TrainConfig(max_length=16, batch_size=4, max_steps=3, num_evals=1, device="cpu")
KEEP_ALL = [Method("all", "all pseudo-labels", "all")]


@dataclass
class ToyRandomSubset(Strategy):
    """A toy baseline: keep a random ``fraction`` of each batch, drawn from the strategy's own stream."""

    name: ClassVar[str] = "toy_random_subset"
    fraction: float = 0.5

    @classmethod
    def rows(cls, configured: "ToyRandomSubset") -> tuple[Method, ...]:
        return (Method("toy_random_subset", "toy random subset", cls.name,
                       grid=tuple({"fraction": f} for f in (0.2, 0.4, 0.6, 0.8)), knob="the kept fraction", beyond=("a handful per batch", "everything: all pseudo-labels"),
                       keeps="a random fraction of each batch", panel=PANELS[0]),)

    def weights(self, s: BatchSignals) -> torch.Tensor:
        return (torch.rand(len(s.confidence), generator=s.generator) < self.fraction).float()


@pytest.fixture
def toy_strategy():
    register(ToyRandomSubset)
    yield ToyRandomSubset
    STRATEGIES.pop(ToyRandomSubset.name, None)


@pytest.fixture(scope="module")
def artifact(random_teacher_artifact):
    return random_teacher_artifact(pool_size=16, validation_size=10, test_size=8)


def test_a_strategy_declared_in_one_module_reaches_every_listing(toy_strategy, capsys):
    row = method_by_id(comparison_methods(), "toy_random_subset")
    assert row.name == "toy random subset" and row.grid[0] == {"fraction": 0.2}
    assert method_table(comparison_methods()).loc["toy random subset", "keeps / weights"] == "a random fraction of each batch"
    assert "| toy random subset" in methods_markdown() and "toy_random_subset" in methods_markdown()
    assert main(["list-methods"]) == 0
    assert "toy random subset" in capsys.readouterr().out
    from llkd_nb.experiments.methods import curve_panels
    assert "toy random subset" in curve_panels(comparison_methods(), {"toy random subset", "LLKD"})[PANELS[0]]


def test_a_strategy_without_rows_of_its_own_is_refused():
    @dataclass
    class Rowless(Strategy):
        name: ClassVar[str] = "rowless"

    with pytest.raises(TypeError, match="declares no rows of its own"):
        register(Rowless)


def test_adding_a_strategy_leaves_every_cached_run_of_the_others_valid(tmp_path, artifact, toy_strategy):
    del STRATEGIES[toy_strategy.name]  # the cache is filled before the new strategy exists
    run_methods(artifact, KEEP_ALL, [0], CONFIG, progress=False, cache=RunCache(tmp_path))
    register(toy_strategy)
    cache = RunCache(tmp_path)
    run_methods(artifact, KEEP_ALL, [0], CONFIG, progress=False, cache=cache)
    assert cache.trained == 0


def test_editing_one_strategy_retrains_only_its_runs(tmp_path, artifact):
    """A strategy in a module of its own (here a file the test writes): editing that file retrains its runs,
    and the other strategies' runs stay cached."""
    module_file = tmp_path / "edited_strategy.py"
    source = ('from dataclasses import dataclass\nfrom typing import ClassVar\nfrom llkd_nb.student.selection import Method, '
              'Strategy, register\n\n\n@register\n@dataclass\nclass Edited(Strategy):\n    name: ClassVar[str] = "edited"\n\n'
              '    @classmethod\n    def rows(cls, configured):\n        return (Method("edited", "edited", cls.name),)\n')
    module_file.write_text(source)
    spec = importlib.util.spec_from_file_location("edited_strategy", module_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules["edited_strategy"] = module
    try:
        spec.loader.exec_module(module)
        methods = [*KEEP_ALL, Method("edited", "edited", "edited")]
        run_methods(artifact, methods, [0], CONFIG, progress=False, cache=RunCache(tmp_path / "runs"))
        module_file.write_text(source + "\n\nSCALE = 1.0  # an edit of the strategy's code\n")
        cache = RunCache(tmp_path / "runs")
        again = run_methods(artifact, methods, [0], CONFIG, progress=False, cache=cache)
        assert cache.trained == 1 and len(again.runs) == 2  # the edited strategy's run only
    finally:
        STRATEGIES.pop("edited", None)
        sys.modules.pop("edited_strategy", None)


def test_rewording_a_strategys_rows_or_docstrings_keeps_its_runs():
    """A row's display name, what it keeps, what lies past its grid: descriptions, not training."""
    from pathlib import Path

    import llkd_nb.student.selection.llkd as llkd_module

    source = Path(llkd_module.__file__).read_text()
    reworded = source.replace("both thresholds, weight 1", "both thresholds, unit weights").replace(
        "adaptive thresholds, and weight the kept ones", "adaptive thresholds; weight the kept ones")
    assert reworded != source and runcache.code_lines(reworded) == runcache.code_lines(source)
    assert runcache.code_lines(source.replace("self.momentum * old", "self.momentum * old * 1.0")) != runcache.code_lines(source)


def test_changing_the_shared_loop_retrains_every_strategy(tmp_path, artifact, monkeypatch):
    assert {"student.training", "student.selection.base", "student.encoder"} <= set(runcache.SHARED_MODULES)
    methods = [*KEEP_ALL, Method("fixed", "fixed", "fixed_threshold", {"threshold": 0.3})]
    run_methods(artifact, methods, [0], CONFIG, progress=False, cache=RunCache(tmp_path))
    monkeypatch.setattr(runcache, "code_fingerprint", lambda: "another version of the shared loop")
    cache = RunCache(tmp_path)
    run_methods(artifact, methods, [0], CONFIG, progress=False, cache=cache)
    assert cache.trained == 2


def _comparable(result) -> tuple:
    return (result.steps.drop(columns="seconds", errors="ignore"),
            {c: (v.step, v.test_proba.tolist()) for c, v in result.checkpoints.items()})


def test_a_strategys_draws_never_move_the_loops_randomness(artifact):
    """A keep-all strategy that draws from its stream trains exactly as one that draws nothing: batch order,
    initialisation and dropout come from other streams."""
    from llkd_nb.student.training import TrainingData

    @dataclass
    class KeepAllButDraws(Strategy):
        def update(self, s: BatchSignals) -> None:
            torch.rand(1000, generator=s.generator)
            assert s.index is not None and len(s.index) == len(s.confidence)

    data = TrainingData.from_artifact(artifact)
    plain, drawing = (train_student(data, strategy, CONFIG) for strategy in (Strategy(), KeepAllButDraws()))
    pd.testing.assert_frame_equal(_comparable(plain)[0], _comparable(drawing)[0])
    assert _comparable(plain)[1] == _comparable(drawing)[1]


def test_a_random_strategy_is_reproducible_by_seed(artifact, toy_strategy):
    from dataclasses import replace

    from llkd_nb.student.training import TrainingData

    data = TrainingData.from_artifact(artifact)
    kept = [train_student(data, make_strategy("toy_random_subset"), replace(CONFIG, seed=seed)).steps["kept_fraction"].tolist()
            for seed in (0, 0, 1)]
    assert kept[0] == kept[1] and kept[0] != kept[2]


def test_the_default_prompt_template_keeps_todays_wording(teacher):
    """The built-in template renders the words the code used to hard-code, so the teacher cache stays valid."""
    prompt = build_prompt(teacher.tokenizer, "Classify the topic.", ("business", "sport"), 20, [("A text.", "sport")])
    assert "Classify the topic.\nPossible labels: business, sport.\n\nText:\nA text.\nLabel: sport\n\nText:\n" in prompt.prefix
    assert prompt.suffix.startswith("\nAnswer with one label only.")


def test_a_prompt_template_file_changes_the_prompt_and_its_fingerprint(teacher, tmp_path):
    template = tmp_path / "terse.yaml"
    template.write_text('system: "You label news."\nuser: "{task} Labels: {labels}.\\n{text}"\n')
    terse = build_prompt(teacher.tokenizer, "Topic?", ("a", "b"), 20, template=load_template(str(template)))
    default = build_prompt(teacher.tokenizer, "Topic?", ("a", "b"), 20)
    assert "You label news." in terse.prefix and terse.fingerprint != default.fingerprint
    assert TeacherConfig(prompt_template=str(template)).prompt_template == str(template)


@pytest.mark.parametrize("content, num_examples, message", [
    ('user: "{task} {labels}"\n', 0, r"lacks the field\(s\) \['text'\]"),
    ('user: "{labels} {text} {teacher}"\n', 0, r"has field\(s\) \['teacher'\]"),
    ('user: "{labels} {text}"\n', 2, r"user message lacks the field\(s\) \['examples'\]"),
    ('user: "{labels} {examples} {text}"\nexample: "{text}"\n', 2, r"example message lacks the field\(s\) \['label'\]"),
    ('user: "{labels} {text}"\nvoice: calm\n', 0, r"unknown key\(s\) \['voice'\]"),
    ('user: "{labels} {text} {text}"\n', 0, r"names \{text\} twice"),
    ('user: "{labels} {text}"\nsystem: 3\n', 0, "are text"),
])
def test_a_bad_prompt_template_fails_before_labeling_naming_the_field(tmp_path, content, num_examples, message):
    template = tmp_path / "bad.yaml"
    template.write_text(content)
    with pytest.raises(ParameterError, match=message):
        TeacherConfig(prompt_template=str(template), num_examples=num_examples)
    with pytest.raises(ParameterError, match="neither a built-in"):
        TeacherConfig(prompt_template="fancy")
    assert set(BUILT_IN_TEMPLATES) == {"default"}


@pytest.mark.parametrize("doc", ["README.md", "papers/method.md"])
def test_the_method_tables_of_the_notes_are_the_registrys(doc):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / doc).read_text()
    block = text.split("<!-- report:methods -->\n", 1)[1].split("<!-- /report:methods -->", 1)[0]
    assert block == methods_markdown(), "run `make params`"
