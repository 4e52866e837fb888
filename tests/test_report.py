"""papers/results.md is written by `llkd-nb report`: reporting one run replaces its section only."""

import json
import re
from pathlib import Path

import pytest

from llkd_nb.study.report import merge_sections

ROOT = Path(__file__).resolve().parents[1]

HEADER = "# Results\n\nWritten by code.\n"
EXISTING = HEADER + "\n## Run `default`\n\nold default numbers\n\n## Run `yahoo_answers`\n\nyahoo numbers\n"


def test_reporting_one_run_keeps_the_other_sections_in_place():
    merged = merge_sections(EXISTING, HEADER, {"default": "## Run `default`\n\nnew default numbers\n"})
    assert merged.startswith(HEADER)
    assert "new default numbers" in merged and "old default numbers" not in merged
    assert merged.index("new default numbers") < merged.index("yahoo numbers")  # same order as before


def test_a_new_run_is_added_and_an_empty_file_gets_the_header():
    merged = merge_sections(EXISTING, HEADER, {"when_llkd_helps": "## Run `when_llkd_helps`\n\nmap\n"})
    assert merged.count("## Run `") == 3 and merged.rstrip().endswith("map")
    assert merge_sections("", HEADER, {"default": "## Run `default`\n\nx\n"}) == HEADER + "\n## Run `default`\n\nx\n"


def _outputs(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                   + "".join(o.get("data", {}).get("text/markdown", "")) for c in cells for o in c.get("outputs", []))


PER_SEED = re.compile(r"(?:[+\-]\d\.\d{3} ){5,}[+\-]\d\.\d{3}")


def _numbers(text: str, decimals: str = "3") -> set[float]:
    """The unsigned numbers written with ``decimals`` decimals (a regex count), as values."""
    return {round(float(number), 3) for number in re.findall(rf"\d+\.\d{{{decimals}}}\b", text)}


# Which committed notebooks show the numbers of each reported run.
SHOWN_BY = {"default": tuple(f"notebooks/{name}.ipynb" for name in
                             ("01_teacher_labeling", "02_confidence_analysis", "04_baseline_comparison")),
            "when_llkd_helps": ("notebooks/05_when_llkd_helps.ipynb",),
            "yahoo_answers": tuple(f"papers/yahoo_answers/{name}.ipynb" for name in
                                   ("01_teacher_labeling", "02_confidence_analysis", "04_baseline_comparison")),
            "yahoo_when_llkd_helps": ("papers/yahoo_answers/05_when_llkd_helps.ipynb",)}


@pytest.mark.parametrize("run", sorted(SHOWN_BY))
@pytest.mark.parametrize("where", ["README.md", "papers/results.md"])
def test_reported_numbers_of_a_run_are_the_committed_notebooks(where, run):
    """Every three-decimal number that README's generated block and results.md's section of the run
    give appears in the committed notebooks' outputs (the `default` run: 01 the teacher, 02 the premises,
    04 the comparison; `when_llkd_helps`: 05 the map): a rerun that changes them fails here until
    `llkd-nb report runs/<name>` is run again."""
    text = (ROOT / where).read_text()
    if where == "README.md":
        text = text.split(f"<!-- report:{run} -->", 1)[1].split(f"<!-- /report:{run} -->", 1)[0]
    else:
        text = text.split(f"## Run `{run}`", 1)[1].split("\n## Run `", 1)[0]
    text = PER_SEED.sub("", text)  # a notebook's table cuts the per-seed lists short; the CSV keeps them
    numbers = _numbers(text)
    assert numbers, f"{where} reports no numbers of the {run} run"
    shown = "".join(_outputs(ROOT / path) for path in SHOWN_BY[run])
    missing = numbers - _numbers(shown, "1,3")
    assert not missing, f"{where} gives numbers that notebooks {SHOWN_BY[run]} do not show: {sorted(missing)}"
    pairs = re.findall(r"\d+\.\d{3} ± \d+\.\d{3}|\[[+\-−]?\d+\.\d{3}, [+\-−]?\d+\.\d{3}\]", text)
    unmatched = [pair for pair in pairs if pair not in shown]  # a mean with its std, an interval: verbatim
    assert not unmatched, f"{where} gives scores or intervals that the notebooks do not show: {unmatched}"


def test_the_report_tells_a_cold_run_from_a_warm_rerun(tmp_path):
    from llkd_nb.study.cli import record_timing
    from llkd_nb.study.report import _cold_run, time_block

    (tmp_path / "config").mkdir()
    assert _cold_run(tmp_path) == "No recorded run of this folder started from empty caches."
    record_timing(tmp_path, {"01_teacher_labeling": 600.0, "total": 1260.0}, {"teacher_cache_texts": 0, "run_cache_runs": 0})
    record_timing(tmp_path, {"01_teacher_labeling": 6.0, "total": 84.0}, {"teacher_cache_texts": 1300, "run_cache_runs": 400})
    text = _cold_run(tmp_path)
    assert "From empty caches it took **21.0 min**" in text and "01 10.0" in text
    (tmp_path / "config" / "01_teacher_labeling.json").write_text(json.dumps({"machine": {"cpu_count": 2}}))
    text = time_block(tmp_path)
    assert text.startswith("On 2 CPU cores: From empty caches it took **21.0 min**")
    assert "Its last rerun since, with the caches warm, took **1.4 min**" in text


@pytest.mark.parametrize("block", ["bench_teacher_throughput", "bench_training_step"])
def test_the_readme_speed_tables_are_the_benchmarks_own_output(block):
    """`make bench` writes them; a typed table, or an empty block, would not carry the benchmark's setup line."""
    text = (ROOT / "papers" / "scale.md").read_text()
    body = text.split(f"<!-- report:{block} -->", 1)[1].split(f"<!-- /report:{block} -->", 1)[0]
    assert "median over" in body and "| naive" in body and body.count("\n|") >= 5, f"run `make bench` ({block})"


def test_the_readme_sweep_table_is_the_benchmarks_own_output():
    """`make bench` writes it: the measured ratio against one process and the costed plan, not typed."""
    text = (ROOT / "papers" / "scale.md").read_text()
    body = text.split("<!-- report:bench_sweep -->", 1)[1].split("<!-- /report:bench_sweep -->", 1)[0]
    assert "median over" in body and "throughput vs 1 process" in body and "core-hours" in body, "run `make bench`"


def test_a_skipped_paper_regime_is_not_reported_from_an_older_table(tmp_path):
    """Notebook 05 with `paper_regime_seeds: 0` leaves an earlier run's table in the folder; the report ignores it."""
    from llkd_nb.study.report import _paper_regime_table

    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "05_paper_regime.csv").write_text("condition\n")
    assert _paper_regime_table(tmp_path, {"paper_regime_seeds": 0}) is None
    assert _paper_regime_table(tmp_path, {"paper_regime_seeds": 5}) == tmp_path / "tables" / "05_paper_regime.csv"


def _verdicts(words: list[str]) -> "pd.DataFrame":
    import pandas as pd

    methods = [f"method {i}" for i in range(len(words))]
    return pd.DataFrame({"LLKD − method (mean over seeds)": [0.01] * len(words),
                         "95 % interval (Holm)": ["[-0.010, +0.030]"] * len(words), "LLKD is": words}, index=methods)


def _summary(methods: list[str], best: str) -> "pd.DataFrame":
    import pandas as pd

    rows = ["LLKD", *methods]
    return pd.DataFrame({"macro_f1_mean": 0.5, "macro_f1_std": 0.01, "pool_used": 0.4,
                         "val_macro_f1_mean": [0.9 if m == best else 0.1 for m in rows]}, index=rows)


@pytest.mark.parametrize("words, expected", [
    (["no detectable difference"] * 3, "better than none, worse than none and not distinguishable from all 3"),
    (["better", "worse", "no detectable difference"], "better than 1, worse than 1 and not distinguishable from 1"),
    (["better", "better", "better"], "better than all 3, worse than none and not distinguishable from none"),
])
def test_the_headline_counts_read_as_english_and_follow_the_table(words, expected):
    from llkd_nb.experiments.compare import headline

    verdicts = _verdicts(words)
    text = headline(_summary(list(verdicts.index), "method 1"), verdicts)
    assert expected in text and "the best other method by validation, **method 1**" in text


def _a_a_record(rate: float, verdict: str) -> "pd.Series":
    import pandas as pd

    return pd.Series({"seeds": 30, "arm": 10, "splits": 1000, "false-positive rate": rate, "rate low": rate / 2,
                      "rate high": rate * 2, "draw": "0-9 minus 1000-1009", "draw difference": "+0.041 [+0.002, +0.079]",
                      "draw p": 0.04, "draw verdict": verdict})


def test_the_a_a_sentence_follows_its_rate_and_names_a_false_positive():
    from llkd_nb.experiments.compare import a_a_sentence

    calm = a_a_sentence(_a_a_record(0.03, "no detectable difference"))
    assert "**3.0%**" in calm and "within the 7%" in calm and "false positive" not in calm
    loud = a_a_sentence(_a_a_record(0.12, "better"))
    assert "**above** the 7%" in loud and "less reliable" in loud
    assert "**better**, a false positive (both arms are LLKD)" in loud


STUDY = {"validation_size": 40}


def test_the_gold_selection_sentence_lists_every_changed_verdict(tmp_path):
    import pandas as pd

    from llkd_nb.study.report import gold_selection_sentences

    tables = tmp_path / "tables"
    tables.mkdir()
    assert gold_selection_sentences(tmp_path, STUDY) == ""
    pseudo, gold = _verdicts(["better", "no detectable difference"]), _verdicts(["better", "worse"])
    pseudo.to_csv(tables / "04_verdicts.csv")
    gold.to_csv(tables / "04_verdicts_gold_selection.csv")
    _summary(list(gold.index), "method 1").to_csv(tables / "04_summary_gold_selection.csv")
    pd.DataFrame({"macro-F1 (pseudo)": [0.5, 0.4, 0.3], "macro-F1 (gold)": [0.3, 0.4, 0.5]},
                 index=["LLKD", "method 0", "method 1"]).to_csv(tables / "04_model_selection.csv")
    text = gold_selection_sentences(tmp_path, STUDY)
    assert "1 of 2 verdicts change (method 1: no detectable difference → worse)" in text
    assert "Kendall's τ = -1.00" in text and "**method 1**, LLKD is **worse**" in text
    assert "the gold labels of the 40 validation texts" in text
    gold.loc["method 1", "LLKD is"] = "no detectable difference"
    gold.to_csv(tables / "04_verdicts_gold_selection.csv")
    assert "0 of 2 verdicts change, and" in gold_selection_sentences(tmp_path, STUDY)


def test_the_map_sentence_counts_real_and_proxy_cells_and_sets_the_simulations_apart(tmp_path):
    import numpy as np
    import pandas as pd
    import yaml

    from llkd_nb.study.report import readme_rule

    (tmp_path / "tables").mkdir()
    (tmp_path / "config").mkdir()
    names = [f"proxy, {n} gold texts" for n in (10, 20, 30, 40)]
    teachers = pd.DataFrame({"kind": ["proxy"] * 4 + ["simulated"], "accuracy": [0.3, 0.4, 0.5, 0.6, 0.5],
                             "auroc": [0.6, 0.7, 0.65, 0.8, 0.9]}, index=[*names, "simulated, AUROC 0.9"])
    teachers.to_csv(tmp_path / "tables" / "05_teachers.csv")
    rng = np.random.default_rng(0)
    best = pd.DataFrame([{"condition": name, "kind": teachers.loc[name, "kind"], "budget": budget, "method": "m",
                          "llkd_minus": rng.normal(0, 0.02), "se": 0.01,
                          "verdict": "worse" if name == names[0] else "better" if "simulated" in name else
                          "no detectable difference"}
                         for name in teachers.index for budget in (20, 60)])
    best.to_csv(tmp_path / "tables" / "05_best_other.csv", index=False)
    (tmp_path / "config" / "study.yaml").write_text(yaml.safe_dump(
        {"dataset": "bbc_news", "max_length": 32, "trainable_layers": 1, "student": "offline:minilm-l6", "seeds": [0, 1],
         "paper_regime_seeds": 0}))
    best.assign(verdict="no detectable difference").to_csv(tmp_path / "tables" / "05_best_other_gold_selection.csv",
                                                             index=False)
    text = readme_rule(tmp_path)
    assert "over the 8 teacher x budget cells of real and proxy teachers, with every choice made against the teacher's " \
           "labels, LLKD is better than the best other method in 0, worse in 2 and not distinguishable in 6" in text
    assert "Chosen against gold (every checkpoint, tuned value and best other method), LLKD is better than the best " \
           "other method in 0, worse in 0 and not distinguishable in 8 of the 8 cells" in text
    assert "2 of them change verdict from the choice against the teacher's labels" in text
    assert "the 2 simulated cells, an exploratory family of their own, read better in 2 and worse in 0" in text
    assert "fitted over the map's 8 cells of 4 real and proxy teachers" in text
    assert "Fitted on the maps of" not in text  # notebook 05 found no other dataset's map to fit on
    pd.DataFrame({"condition": names[:2], "budget": [20, 20], "interval": ["includes 0"] * 2, "verdict": ["worse"] * 2,
                  "rule_side_right": [False, False], "rule_pick_right": [True, True], "naive_pick_right": [True, True],
                  "inside": [True, False], "fitted_on": ["yahoo_when_llkd_helps and stackoverflow_when_llkd_helps"] * 2}
                 ).to_csv(tmp_path / "tables" / "05_out_of_sample.csv", index=False)
    assert ("Fitted on the maps of yahoo_when_llkd_helps and stackoverflow_when_llkd_helps and asked about the 2 cells of "
            "real and proxy teachers of bbc_news (1 of them inside") in readme_rule(tmp_path)


def test_the_readme_when_to_use_box_is_computed_from_the_committed_runs():
    """`llkd-nb report` writes it from papers/runs (both model selections of every dataset): a rerun that
    changes a verdict fails here until the report is run again."""
    from llkd_nb.study.compare_runs import COMMITTED
    from llkd_nb.study.report import WHEN_TO_USE, when_to_use_block

    text = (ROOT / "README.md").read_text()
    body = text.split(f"<!-- report:{WHEN_TO_USE} -->\n", 1)[1].split(f"<!-- /report:{WHEN_TO_USE} -->", 1)[0]
    assert body == when_to_use_block(COMMITTED), "run `llkd-nb report runs/default runs/yahoo_answers`"


def test_the_when_to_use_box_reads_every_dataset_under_both_selections_and_names_the_setting(tmp_path):
    import json

    from llkd_nb.study.report import when_to_use_block

    study = {"dataset": "news", "teacher": "offline:smollm2-135m", "calibration": "batch", "student": "offline:minilm-l6",
             "trainable_layers": 1, "max_length": 32, "max_steps": 150}
    for name, gold_words in (("a", ["worse", "no detectable difference"]), ("b", None)):
        tables = tmp_path / name / "tables"
        tables.mkdir(parents=True)
        (tmp_path / name / "run.json").write_text(json.dumps({"study": {**study, "dataset": f"news {name}"}}
                                                            if name == "a" else {}))
        summary = _summary(["method 0", "method 1"], "method 0").assign(training_forwards=[400.0, 100.0, 100.0],
                                                                        gradient_samples=100.0)
        summary.to_csv(tables / "04_summary.csv")
        _verdicts(["no detectable difference"] * 2).to_csv(tables / "04_verdicts.csv")
        if gold_words:
            summary.to_csv(tables / "04_summary_gold_selection.csv")
            _verdicts(gold_words).to_csv(tables / "04_verdicts_gold_selection.csv")
    text = when_to_use_block(tmp_path)
    assert "detectably better than LLKD in 1 of the 3 readings (news a, chosen against gold, against method 0" in text
    assert "4.0 student passes per gradient sample on news a, against 1.0 for method 0; 4.0" in text
    assert "on run b, against 1.0" in text and "The setting of b is not in its snapshot yet" in text
    assert "a 32-token `offline:minilm-l6` student with its top 1 layer(s) trained, teacher `offline:smollm2-135m`" in text
