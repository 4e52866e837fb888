"""A run folder's results as Markdown (``papers/results.md`` is written by this, never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from scipy.stats import kendalltau

from ..experiments.compare import a_a_sentence, headline
from ..teacher.artifacts import TeacherArtifact


def _table(path: Path, **kwargs) -> str:
    frame = pd.read_csv(path, index_col=0)
    return frame.to_markdown(**kwargs)


SECTION = "## Run `"


def merge_sections(existing: str, header: str, sections: dict[str, str]) -> str:
    """``header`` and every ``## Run `<name>``` section of ``existing``, with the sections of
    ``sections`` (run name -> Markdown) put in place of theirs or added at the end: reporting one run
    keeps the other runs' sections as they were written."""
    parts = existing.split("\n" + SECTION)[1:] if SECTION in existing else []
    kept = {part.split("`", 1)[0]: SECTION + part.rstrip("\n") + "\n" for part in parts}
    merged = {**kept, **sections}
    return header + "\n" + "\n".join(merged.values())


def run_report(run_dir: str | Path, title: str) -> str:
    """One run folder as Markdown: its setting and timings, then notebook 04's comparison (scores, costs,
    paired verdicts, robustness, tuning) and notebook 05's map, for whichever of them ran."""
    run = Path(run_dir)
    study = yaml.safe_load((run / "config" / "study.yaml").read_text())
    timings = yaml.safe_load((run / "config" / "timings.yaml").read_text())
    records = sorted((run / "config").glob("0*.json"))
    if not records:
        raise FileNotFoundError(f"{run} has no notebook records (config/0*.json): run the study first")
    record = json.loads(records[-1].read_text())
    minutes = ", ".join(f"{name[:2]} {seconds / 60:.1f}" for name, seconds in timings.items() if name != "total")
    lines = [
        f"## {title}",
        "",
        f"Run `{run.name}` at commit `{(record.get('git_commit') or 'unknown')[:10]}`"
        f"{' (clean working tree)' if record.get('git_clean') else ''}, "
        f"{record['machine']['cpu_count']} CPU cores, torch {record['packages']['torch']}. "
        f"Dataset `{study['dataset']}`; teacher `{study['teacher']}` ({study['calibration']}-calibrated); "
        f"student `{study['student']}` (trainable layers: {study['trainable_layers']}, {study['max_length']} tokens); "
        f"{study['batch_size']} samples per update, protocol `{study['protocol']}`; seeds {study['seeds']}; "
        f"tuning seeds {study['tuning_seeds']}.",
        "",
        f"Wall-clock of the run that made these tables: **{timings['total'] / 60:.1f} min** (notebooks, min: {minutes}; "
        "a rerun reads the teacher cache and any tuning still valid, so it is faster than a cold run). "
        + _cold_run(run),
    ]
    if (run / "tables" / "04_summary.md").exists():
        lines += _comparison(run, study)
    if (run / "tables" / "05_best_other.csv").exists():
        lines += _conditions(run, study)
    return "\n".join(lines) + "\n"


TIMINGS_HISTORY = Path("config") / "timings_history.yaml"  # in a run folder: every run's minutes and caches


def timing_history(run: Path) -> list[dict]:
    """The run folder's recorded runs, oldest first (empty before its first)."""
    path = run / TIMINGS_HISTORY
    return yaml.safe_load(path.read_text()) if path.exists() else []


def _is_cold(entry: dict) -> bool:
    return entry["teacher_cache_texts"] == 0 and entry["run_cache_runs"] == 0


def _minutes(entry: dict) -> str:
    return ", ".join(f"{name[:2]} {m:.1f}" for name, m in entry["minutes"].items() if name != "total")


def _cold_run(run: Path) -> str:
    """The last run of this folder that started with empty teacher and run caches, from its history."""
    cold = [entry for entry in timing_history(run) if _is_cold(entry)]
    if not cold:
        return "No recorded run of this folder started from empty caches."
    entry = cold[-1]
    return (f"From empty caches it took **{entry['minutes']['total']:.1f} min** (commit `{entry['commit']}`, notebooks, "
            f"min: {_minutes(entry)}).")


def time_block(run_dir: str | Path) -> str:
    """The README's sentence on a study's cold time and its last warm rerun since, from its run folder's
    history (the cores are those of the folder's last notebook record)."""
    run = Path(run_dir)
    history = timing_history(run)
    cold = [index for index, entry in enumerate(history) if _is_cold(entry)]
    if not cold:
        return _cold_run(run) + "\n"
    records = sorted((run / "config").glob("0*.json"))
    cores = f"On {json.loads(records[-1].read_text())['machine']['cpu_count']} CPU cores: " if records else ""
    sentence = cores + _cold_run(run)
    warm = history[cold[-1] + 1:]
    if warm:
        sentence += (f" Its last rerun since, with the caches warm, took **{warm[-1]['minutes']['total']:.1f} min** "
                     f"(commit `{warm[-1]['commit']}`).")
    return sentence + "\n"


def _comparison(run: Path, study: dict) -> list[str]:
    artifact = TeacherArtifact.load_from_run(run)
    duplicates = artifact.meta.get("duplicates_removed", {})
    sizes = {split: len(artifact.split(split)) for split in ("pool", "validation", "test")}
    lines = [
        "",
        f"Notebook 04: pool {sizes['pool']} / validation {sizes['validation']} / test {sizes['test']} (after removing "
        f"{duplicates.get('exact', 0)} exact and {duplicates.get('near', 0)} near duplicates); {study['num_examples']} "
        f"in-context examples; {study['max_steps']} optimizer steps for every method{_learning_rate(run, study)}.",
        "",
        "### Test scores and costs (mean ± std over seeds)",
        "",
        (run / "tables" / "04_summary.md").read_text().strip(),
        "",
        "### LLKD against each method, paired over seeds and test texts",
        "",
        "Difference in test macro-F1 (LLKD − method), paired over seeds and test texts: the raw 95 % interval "
        "and p-value, and the same Holm-corrected over the table; the verdict is read from the corrected interval.",
        "",
        _table(run / "tables" / "04_verdicts.csv", floatfmt=".3f"),
    ]
    if (run / "tables" / "04_a_a.csv").exists():
        lines += ["", "### The verdict rule against itself (A/A calibration)", "", a_a_sentence_of(run)]
    if (run / "tables" / "04_robustness.csv").exists():
        lines += ["", "### Robustness: both protocols", "", _table(run / "tables" / "04_robustness.csv", floatfmt=".3f")]
    if (run / "tables" / "04_model_selection.csv").exists():
        lines += ["", "### Model selection: the teacher's labels or a labelled validation set", "",
                  "Checkpoints, tuning and the best other method chosen by validation macro-F1 against the teacher's "
                  "labels (pseudo) or against gold (gold); the same runs seen both ways where the choices agree.", "",
                  _table(run / "tables" / "04_model_selection.csv", floatfmt=".3f")]
        if (run / "tables" / "04_verdicts_gold_selection.csv").exists():
            lines += ["", gold_selection_sentences(run, study), "",
                      _table(run / "tables" / "04_verdicts_gold_selection.csv", floatfmt=".3f")]
    if (run / "tables" / "04_tuning.csv").exists():
        lines += ["", "### Tuning (validation macro-F1 against the teacher's labels, tuning seeds only)", "",
                  _table(run / "tables" / "04_tuning.csv")]
    return lines


def _learning_rate(run: Path, study: dict) -> str:
    """How the shared learning rate was set: tuned by notebook 04 (its record), else the study's."""
    from ..experiments.tuning import LEARNING_RATE, Tuned

    record = Tuned.load(run, LEARNING_RATE, study["model_selection"]) if study["tune"] else None
    if record is None:
        return f", learning rate {study['lr']:g} (not tuned)"
    return f", learning rate {record.chosen['lr']:g} (tuned once on all pseudo-labels, shared by every method)"


def _conditions(run: Path, study: dict) -> list[str]:
    from ..experiments.conditions import KINDS, SHORT_NAMES, conclusion
    from ..experiments.decision_map import load_map

    rule, best, teachers = load_map(run)
    order = teachers["accuracy"].sort_values(ascending=False).index
    best["cell"] = [f"{r.llkd_minus:+.3f} [{r.low:+.3f}, {r.high:+.3f}] vs {SHORT_NAMES.get(r.method, r.method)}"
                    + (f" **{r.verdict}**" if pd.notna(r.verdict) and r.verdict != "no detectable difference" else "")
                    for r in best.itertuples()]
    grid = best.pivot(index="condition", columns="budget", values="cell")
    grid = grid.loc[[c for c in order if c in grid.index]]
    grid.index = [f"{c} ({teachers.loc[c, 'accuracy']:.2f}, {teachers.loc[c, 'auroc']:.2f})" for c in grid.index]
    grid.columns = [f"{b} steps" for b in grid.columns]
    lines = [
        "",
        "### When does LLKD help? The teacher ladder and the decision map (notebook 05)",
        "",
        f"Budgets {study['budgets']} optimizer steps, each tuned; proxy teachers trained on {study['proxy_sizes']} spare "
        f"gold texts; calibrated simulations at accuracy {study['simulated_accuracies']} x AUROC {study['simulated_aurocs']} "
        "(null: the real teacher's). Kinds: " + "; ".join(f"`{k}`: {v}" for k, v in KINDS.items()) + ".",
        "",
        _table(run / "tables" / "05_teachers.csv", floatfmt=".3f"),
        "",
        "LLKD − the best other method by validation (test macro-F1, paired 95 % interval over seeds and test texts, "
        "Holm-corrected within each family: the real and proxy teachers' cells, and the simulations' apart); rows: "
        "teacher (pool accuracy, AUROC):",
        "",
        grid.rename_axis("teacher").to_markdown(),
        "",
        "**Conclusion (computed):** " + conclusion(best, teachers) + " " + rule.statement(),
    ]
    if (regime := _paper_regime_table(run, study)) is not None:
        lines += ["", "The paper's student (the whole encoder trained) against the map's, same seeds and knobs:", "",
                  pd.read_csv(regime).drop(columns="seconds per run")
                  .to_markdown(index=False, floatfmt=".3f")]
    return lines


def readme_rule(run_dir: str | Path) -> str:
    """The README's sentences on when to use LLKD (the cells' verdicts, the rule, its limits), computed
    from notebook 05's tables."""
    from ..experiments.decision_map import confirmatory, load_map
    from ..experiments.maps import map_record
    from ..experiments.takeaways import selection_sentence

    run = Path(run_dir)
    rule, best, teachers = load_map(run)
    commit = map_record(run).get("git_commit")
    study = yaml.safe_load((run / "config" / "study.yaml").read_text())
    fitted = confirmatory(best)
    counts, simulated = fitted["verdict"].value_counts(), best.drop(index=fitted.index)
    gold_path = run / "tables" / "05_best_other_gold_selection.csv"
    gold = f" {selection_sentence(best, pd.read_csv(gold_path))}" if gold_path.exists() else ""
    check = run / "tables" / "05_simulation_check.csv"
    simulation = ""
    if check.exists():
        check = pd.read_csv(check)
        simulation = (f" The simulated twin's students land inside the real teacher's seed interval in "
                      f"{int(check['inside'].sum())} of {len(check)} method x budget cells (mean gap "
                      f"{(check['simulated_mean'] - check['real_mean']).mean():+.3f} macro-F1).")
    return (f"- **{study['dataset']}** (run `{run.name}`" + (f", commit `{commit[:10]}`" if commit else "")
            + f"): over the {len(fitted)} teacher x budget cells of real "
            f"and proxy teachers, with every choice made against the teacher's labels, LLKD is better than the best "
            f"other method in {counts.get('better', 0)}, worse in "
            f"{counts.get('worse', 0)} and not distinguishable in {counts.get('no detectable difference', 0)} "
            f"(Holm-corrected within that family)"
            + (f"; the {len(simulated)} simulated cells, an exploratory family of their own, read better in "
               f"{(simulated['verdict'] == 'better').sum()} and worse in {(simulated['verdict'] == 'worse').sum()}"
               if len(simulated) else "") + f".{gold} {rule.statement()} "
            f"These hold for {student_phrase(study)}, "
            f"{len(study['seeds'])} seeds and the teachers measured here.{simulation}{_paper_regime_sentence(run, study)}"
            f"{_out_of_sample_sentence(run, study)}\n")


def _out_of_sample_sentence(run: Path, study: dict) -> str:
    """How the rule fitted on the other datasets' shipped maps predicted this map (notebook 05), when it ran."""
    from ..experiments.decision_map import out_of_sample_sentence

    path = run / "tables" / "05_out_of_sample.csv"
    if not path.exists():
        return ""
    table = pd.read_csv(path)
    return " " + out_of_sample_sentence(table, str(table["fitted_on"].iloc[0]).split(" and "), study["dataset"])


def _paper_regime_sentence(run: Path, study: dict) -> str:
    """LLKD's margin with the paper's student beside the map's (notebook 05, section 7), when it ran."""
    from ..experiments.conditions import regime_margins

    path = _paper_regime_table(run, study)
    if path is None:
        return ""
    return (f" The paper's student (every layer trained, {study['paper_regime_max_length']} tokens, "
            f"{min(study['paper_regime_seeds'], len(study['seeds']))} seeds, {study['paper_regime_evals']} validation "
            f"scores a run) against the map's: {regime_margins(pd.read_csv(path))}")


def _paper_regime_table(run: Path, study: dict) -> Path | None:
    """Notebook 05's paper's-student table, if this run's study ran it (a skipped regime leaves an older one)."""
    path = run / "tables" / "05_paper_regime.csv"
    return path if study["paper_regime_seeds"] and path.exists() else None


def _teacher_sentences(run: Path) -> str:
    """The teacher's accuracy and calibration (from the artifact) and notebook 02's premises (from its tables)."""
    from ..experiments.analysis import teacher_scores

    artifact = TeacherArtifact.load_from_run(run)
    calibration = artifact.meta["calibration"]
    pool, test = teacher_scores(artifact, "pool"), teacher_scores(artifact, "test")
    raw, calibrated = pool.loc["none"], pool.loc[calibration]
    text = (f"The teacher's labels on the pool are {raw['accuracy']:.3f} accurate raw ({int(raw['labels_used'])} of "
            f"{artifact.num_labels} labels used) and {calibrated['accuracy']:.3f} after {calibration} calibration (ECE "
            f"{raw['ece']:.3f} → {calibrated['ece']:.3f}, confidence AUROC {calibrated['auroc']:.3f}); on the test set "
            f"the teacher scores macro-F1 {test.loc[calibration, 'macro_f1']:.3f}.")
    tables = run / "tables"
    names = ("02_teacher_confidence_bins.csv", "02_student_uncertainty_bins.csv", "02_joint_grid.csv")
    if all((tables / name).exists() for name in names):
        confidence, uncertainty = (pd.read_csv(tables / name) for name in names[:2])
        grid = pd.read_csv(tables / names[2], index_col=[0, 1])
        text += (f" Notebook 02: pseudo-label accuracy goes from {confidence['accuracy'].iloc[0]:.2f} to "
                 f"{confidence['accuracy'].iloc[-1]:.2f} across {len(confidence)} bins of teacher confidence, and the "
                 f"student's accuracy from {uncertainty['accuracy'].iloc[0]:.2f} to {uncertainty['accuracy'].iloc[-1]:.2f} "
                 f"across {len(uncertainty)} bins of its uncertainty. Where the teacher is confident and the student "
                 f"uncertain (the cell LLKD favours, {int(grid.loc[('texts', 'high'), 'high'])} test texts), the teacher's "
                 f"labels are right {grid.loc[('accuracy', 'high'), 'high']:.2f} of the time, against "
                 f"{test.loc[calibration, 'accuracy']:.2f} over all test texts.")
    return text


def a_a_sentence_of(run: Path) -> str:
    """Notebook 04's A/A calibration (``tables/04_a_a.csv``) in words; empty before it ran."""
    path = run / "tables" / "04_a_a.csv"
    return a_a_sentence(pd.read_csv(path).iloc[0]) if path.exists() else ""


def gold_selection_sentences(run: Path, study: dict) -> str:
    """Notebook 04 with every choice made against gold (checkpoints, tuning, the best other method): its
    headline, and how many verdicts change and how well the two rankings agree; empty before it ran."""
    tables = run / "tables"
    if not (tables / "04_summary_gold_selection.csv").exists():
        return ""
    verdicts = pd.read_csv(tables / "04_verdicts.csv", index_col=0)
    gold_verdicts = pd.read_csv(tables / "04_verdicts_gold_selection.csv", index_col=0)
    both = pd.read_csv(tables / "04_model_selection.csv", index_col=0)
    changed = {m: f"{verdicts.loc[m, 'LLKD is']} → {gold_verdicts.loc[m, 'LLKD is']}" for m in verdicts.index
               if gold_verdicts.loc[m, "LLKD is"] != verdicts.loc[m, "LLKD is"]}
    tau = kendalltau(both["macro-F1 (pseudo)"], both["macro-F1 (gold)"]).statistic
    gold_summary = pd.read_csv(tables / "04_summary_gold_selection.csv", index_col=0)
    return (f"**Chosen against gold** (the gold labels of the {study['validation_size']} validation texts): "
            f"{headline(gold_summary, gold_verdicts)} "
            f"Between the two selections {len(changed)} of {len(verdicts)} verdicts change"
            + (" (" + "; ".join(f"{m}: {change}" for m, change in changed.items()) + ")" if changed else "")
            + f", and the methods' rankings by mean test macro-F1 agree with Kendall's τ = {tau:.2f}.")


def readme_summary(run_dir: str | Path) -> str:
    """What the README shows of a run, in computed sentences: the teacher, notebook 02's premises, and
    notebook 04's verdicts."""
    run = Path(run_dir)
    study = yaml.safe_load((run / "config" / "study.yaml").read_text())
    record = json.loads((run / "config" / "04_baseline_comparison.json").read_text())
    summary = pd.read_csv(run / "tables" / "04_summary.csv", index_col=0)
    verdicts = pd.read_csv(run / "tables" / "04_verdicts.csv", index_col=0)
    return (f"- **{study['dataset']}** (run `{run.name}` at commit `{(record.get('git_commit') or 'unknown')[:10]}`, "
            f"{len(study['seeds'])} seeds, {len(study['tuning_seeds'])} tuning seeds). {_teacher_sentences(run)} "
            f"**Chosen against the teacher's labels** (no gold needed): {headline(summary, verdicts)} "
            f"{gold_selection_sentences(run, study)} {a_a_sentence_of(run)}".rstrip() + "\n")


WHEN_TO_USE = "when-to-use"  # README's <!-- report:when-to-use --> block: the box, from every committed run
SNAPSHOT_RECORD = "run.json"  # in a snapshot (papers/runs/<run>/): the run's commit, machine, threads and setting


def student_phrase(study: dict) -> str:
    """The student as a study sets it, in words."""
    layers = "every layer" if study["trainable_layers"] is None else f"its top {study['trainable_layers']} layer(s)"
    return f"a {study['max_length']}-token `{study['student']}` student with {layers} trained"


def when_to_use_block(root: str | Path) -> str:
    """README's "When to use LLKD" box, from the snapshots in ``root`` (``papers/runs``) that hold notebook 04's
    tables: LLKD against the best other method on each dataset under each model selection, and the costs."""
    from ..experiments.advice import Reading, box, costs_sentence, decision, passes_per_sample
    from ..experiments.compare import best_other

    readings, costs, settings = [], [], []
    runs = sorted(path for path in Path(root).iterdir() if (path / "tables" / "04_summary.csv").exists())
    for run in runs:
        tables, study = run / "tables", json.loads((run / SNAPSHOT_RECORD).read_text()).get("study") or {}
        dataset = study.get("dataset", f"run {run.name}")
        summary = pd.read_csv(tables / "04_summary.csv", index_col=0)
        readings.append(Reading.of(f"{dataset}, chosen against the teacher's labels", summary,
                                   pd.read_csv(tables / "04_verdicts.csv", index_col=0)))
        if (tables / "04_verdicts_gold_selection.csv").exists():
            readings.append(Reading.of(f"{dataset}, chosen against gold",
                                       pd.read_csv(tables / "04_summary_gold_selection.csv", index_col=0),
                                       pd.read_csv(tables / "04_verdicts_gold_selection.csv", index_col=0)))
        costs.append((passes_per_sample(summary), best_other(summary), f"on {dataset}"))
        settings.append(study)
    if not readings:
        raise FileNotFoundError(f"no committed run in {root} holds notebook 04's tables: run `llkd-nb report` on one")
    scope = "; ".join(sorted({f"{student_phrase(s)}, teacher `{s['teacher']}` ("
                              + ("uncalibrated" if s["calibration"] == "none" else f"{s['calibration']}-calibrated")
                              + f"), {s['max_steps']} optimizer steps" for s in settings if s}))
    unrecorded = [run.name for run, s in zip(runs, settings) if not s]
    text = (decision(readings) + (f" It holds for what these runs measured: {scope}." if scope else "")
            + (f" The setting of {', '.join(unrecorded)} is not in {'its' if len(unrecorded) == 1 else 'their'} "
               "snapshot yet (the next `llkd-nb report` of the run writes it)." if unrecorded else "")
            + " Notebook 05's maps (above) read other teachers and budgets cell by cell.")
    return box(text, costs_sentence(costs), source="notebook 04's tables of the committed runs, both model "
                                                   "selections") + "\n"


def readme_block(run_dir: str | Path) -> str:
    """A run's README block: notebook 04's verdicts when it ran, else notebook 05's rule."""
    run = Path(run_dir)
    return readme_summary(run) if (run / "tables" / "04_summary.csv").exists() else readme_rule(run)


def write_method_tables(docs: list[Path]) -> list[Path]:
    """Rewrite the ``<!-- report:methods -->`` block of each of ``docs`` from the strategies' rows
    (``llkd-nb params``); returns the files that changed."""
    from ..experiments.methods import methods_markdown

    changed = []
    for doc in docs:
        text = doc.read_text()
        if text != (updated := replace_block(text, "methods", methods_markdown())):
            doc.write_text(updated)
            changed.append(doc)
    return changed


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the block between ``<!-- report:<name> -->`` and ``<!-- /report:<name> -->`` set to ``body``."""
    start, end = f"<!-- report:{name} -->", f"<!-- /report:{name} -->"
    if start not in text or end not in text:
        raise ValueError(f"no block {start} ... {end} to write into")
    head, rest = text.split(start, 1)
    return head + start + "\n" + body + end + rest.split(end, 1)[1]



IN_SESSION_MINUTES = 5.0  # an exercise that takes longer on the workshop track is take-home


def exercises_block(exercises_dir: str | Path, runs_dir: str | Path) -> str:
    """The instructor's guide's table of exercises: each config of ``exercises_dir``, the notebooks it
    runs, what it changes from the study it extends, and the time of its first run in ``runs_dir`` (after
    ``make workshop``, so the teacher's answers and the track's own runs come from the caches; a rerun
    would find the exercise's runs cached too)."""
    from .config import load_study

    rows = ["| exercise | notebooks | changes | measured (min) | when |", "|---|---|---|---|---|"]
    for path in sorted(Path(exercises_dir).glob("*.yaml")):
        own = yaml.safe_load(path.read_text())
        run = load_study(path).run
        change = ", ".join(f"`{key}: {value}`" for key, value in own.items() if key not in ("extends", "name", "notebooks"))
        history = timing_history(Path(runs_dir) / run.name)
        minutes = history[0]["minutes"]["total"] if history else None
        when = "not measured" if minutes is None else "in session" if minutes <= IN_SESSION_MINUTES else "take-home"
        rows.append(f"| `{path.parent.name}/{path.name}` | {', '.join(f'{n:02d}' for n in run.notebooks)} | "
                    f"{change} | {'–' if minutes is None else f'{minutes:.1f}'} | {when} |")
    return "\n".join(rows) + "\n"


def workshop_block(run_dir: str | Path) -> str:
    """The guide's sentence on the workshop track's own time (:func:`time_block`), once it has run."""
    run = Path(run_dir)
    return time_block(run) if timing_history(run) else f"`{run.name}` has not been run yet.\n"
