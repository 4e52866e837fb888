"""``llkd-nb advise STUDY.yaml``: should I select with LLKD on my data, or with something simpler?

It labels only what the answer needs (the study's validation and test texts, the labelled ones of a
practitioner's eval file, and a sample of :data:`ADVISE_POOL` pool texts for the calibration), profiles the
teacher on the texts notebooks 01 and 02 check it on, gives a teacher whose confidence ranks nothing a plain
answer, and otherwise places it on every shipped decision map (:mod:`llkd_nb.experiments.maps`) under both model
selections and names the method to try first. ``--check`` then runs that method against LLKD on the user's
own data: a few seeds, every choice made against the gold validation labels, notebook 04's paired interval.
The labels go through the study's teacher cache, so a later ``llkd-nb run`` of the study reuses them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pandas as pd

from ..core.runinfo import cpu_description, git_clean, git_commit, use_threads
from ..experiments.analysis import GOLD_SPLITS, premise_verdict
from ..experiments.compare import run_methods
from ..experiments.decision_map import Placement, place_on_maps
from ..experiments.methods import LLKD_ROW, comparison_methods, method_by_id, method_named, with_tuned
from ..experiments.maps import map_folder, shipped_maps
from ..experiments.teacher_profile import TeacherProfile, require_labelled, teacher_profile
from ..experiments.tuning import tune, tune_rate
from ..student.training import DataFeatures, TrainingData
from ..teacher.artifacts import TeacherArtifact
from ..teacher.labeling import LabelingRun, label_all, prepare
from .config import Study

ADVISE_POOL = 200  # pool texts labelled for the batch calibration (and the profile, where the pool has gold)
CHECK_SEEDS = 3  # seeds of --check's head-to-head
ADVICE = Path("advice")  # in the run folder: the answer (advice.md) and how long it took (advice.json)


def label_for_advice(study: Study, run_dir: Path, progress: bool = False) -> LabelingRun:
    """The teacher's artifact on a pool sample and the study's validation and test texts (through the cache),
    after checking that the profile will have enough gold-labelled texts."""
    data = replace(study.data, pool_size=min(study.data.pool_size or ADVISE_POOL, ADVISE_POOL))  # None: all
    spec, splits, teacher, prompt = prepare(data, study.teacher)
    frames = (getattr(splits, split) for split in GOLD_SPLITS)  # the texts the profile will read, as gold_split picks them
    labelled = next((frame for frame in frames if len(frame) and frame["label"].notna().all()), None)
    require_labelled(0 if labelled is None else len(labelled), "the study's gold-labelled pool or test texts")
    return label_all(data, study.teacher, spec, splits, teacher, prompt, study.teacher.resolved_cache_path(run_dir),
                     progress)


def first_method(placements: list[Placement], budget: int) -> tuple[str, str]:
    """The method the maps' guides point to most at the map budget nearest ``budget``, and why, in words."""
    picks = []
    for placement in placements:
        row = placement.placed.iloc[(placement.placed["budget"] - budget).abs().argmin()]
        picks.append(LLKD_ROW if row["interval"] == "above 0" else row["best_other"])
    counts = Counter(picks)
    method = LLKD_ROW if counts[LLKD_ROW] == len(picks) else max(
        (m for m in counts if m != LLKD_ROW), key=lambda m: (counts[m], m == "all pseudo-labels"))
    return method, (f"Try **{method}** first: at the map budget nearest yours ({budget} steps) the guide points to it in "
                    f"{counts[method]} of {len(picks)} readings (maps x model selections)"
                    + ("" if method == LLKD_ROW else "; LLKD only where every reading's interval lies above 0") + ".")


def profile_words(artifact: TeacherArtifact, sample: pd.DataFrame | None = None, replicates: int = 1000,
                  source: str = "the labelled sample", maps: list[str] | None = None,
                  budget: int | None = None) -> tuple[str, TeacherProfile, list[Placement]]:
    """The profile, the premise's answer and every placement on ``maps`` (default: every shipped map), as
    text; the placements are empty when the premise does not hold."""
    profile = teacher_profile(artifact, sample, replicates, source=source)
    lines = [profile.describe(), "", "scores (95 % bootstrap interval over the texts):", profile.scores.round(3).to_string(),
             "", "accuracy per gold class:", profile.per_class.round(3).to_string(), "", profile.premise().replace("**", "")]
    if premise_verdict(profile.scores.loc["auroc"]) != "holds":
        return "\n".join(lines), profile, []
    sources = maps or shipped_maps()
    if not sources:
        return "\n".join(lines + ["", "No decision map ships with this package yet, and none was given (--map)."]), profile, []
    placements = place_on_maps(profile.scores.loc["accuracy", "value"], profile.scores.loc["auroc", "value"], sources)
    for placement in placements:
        lines += ["", placement.describe().replace("**", ""), placement.placed.round(3).to_string(index=False)]
    if budget is not None:
        lines += ["", first_method(placements, budget)[1].replace("**", "")]
    return "\n".join(lines), profile, placements


def simpler_to_check(placements: list[Placement], budget: int) -> str:
    """The simpler method --check runs against LLKD: the one the maps point to first, else (the maps point to
    LLKD) the one they measured best most often, else (no map) all pseudo-labels."""
    if not placements:
        return "all pseudo-labels"
    method, _ = first_method(placements, budget)
    return method if method != LLKD_ROW else Counter(p.placed["best_other"].iloc[0] for p in placements).most_common(1)[0][0]


def head_to_head(artifact: TeacherArtifact, study: Study, simpler: str, seeds: int) -> str:
    """LLKD against ``simpler`` on the study's data: the shared learning rate, then each knob, tuned against
    the gold validation labels on the study's first tuning seed; ``seeds`` seeds each; notebook 04's paired
    interval over seeds and test texts."""
    if not artifact.has_gold("validation") or not artifact.has_gold("test"):
        raise ValueError("--check chooses against gold and scores on gold: the study needs gold labels on its "
                         "validation and test texts (an eval_dataset)")
    methods = comparison_methods(study.llkd, with_ceiling=False)
    pair = [method_named(methods, LLKD_ROW), method_named(methods, simpler)]
    config = replace(study.train, model_selection="gold")
    data = TrainingData.from_artifact(artifact, "pseudo", "gold")
    features = DataFeatures.encode(data, config)
    tuning_seeds = list(study.comparison.tuning_seeds[:1])
    rate = tune_rate(method_by_id(methods, "all"), data, features, config, tuning_seeds)
    config = replace(config, lr=rate.chosen["lr"])
    chosen = {name: t.chosen for name, t in tune([m for m in pair if m.grid], data, features, config, tuning_seeds).items()}
    comparison = run_methods(artifact, with_tuned(pair, chosen), list(range(seeds)), config, features, progress=False)
    difference = comparison.against(LLKD_ROW, artifact.gold("test"), artifact.num_labels,
                                    study.comparison.bootstrap_replicates)[simpler]
    return (f"Check on your data ({seeds} seeds, {len(artifact.split('test'))} test texts, every choice against "
            f"{len(artifact.split('validation'))} gold validation texts, learning rate {rate.chosen['lr']}): LLKD − {simpler} "
            f"= {difference.mean:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}]: **{difference.verdict}**.")


def advise(study: Study, check: bool = False, maps: list[str] | None = None, runs_dir: str | Path = "runs") -> str:
    """The whole answer for ``study``, as text, with the minutes it took; both are saved in the run folder."""
    start = time.perf_counter()
    run_dir = Path(runs_dir) / study.run.name
    use_threads(study.run.threads)
    for source in maps or []:
        map_folder(source)  # a map that does not exist stops here, before any labeling
    labelled = label_for_advice(study, run_dir, study.run.progress)
    artifact = labelled.artifact
    words, profile, placements = profile_words(artifact, maps=maps, budget=study.train.max_steps)
    if check and premise_verdict(profile.scores.loc["auroc"]) == "holds":
        words += "\n\n" + head_to_head(artifact, study, simpler_to_check(placements, study.train.max_steps),
                                         CHECK_SEEDS).replace("**", "")
    minutes = (time.perf_counter() - start) / 60
    record = {"minutes": round(minutes, 2), "check": check, "texts_scored": labelled.newly_scored,
              "texts_labelled": len(artifact.frame), "labelled_texts": int(artifact.frame["gold"].notna().sum()),
              "cpu": cpu_description(), "threads": study.run.threads, "git_commit": git_commit(), "git_clean": git_clean()}
    (run_dir / ADVICE).mkdir(parents=True, exist_ok=True)
    (run_dir / ADVICE / "advice.md").write_text(words + "\n")
    (run_dir / ADVICE / "advice.json").write_text(json.dumps(record, indent=2) + "\n")
    return words + f"\n\n(advice in {minutes:.1f} min; saved in {run_dir / ADVICE})"


def advice_time(run_dir: str | Path) -> str:
    """README's sentence on how long ``llkd-nb advise`` took in ``run_dir`` (from its advice.json)."""
    path = Path(run_dir) / ADVICE / "advice.json"
    if not path.exists():
        return f"No `llkd-nb advise` has run in {Path(run_dir).name} yet."
    record = json.loads(path.read_text())
    cold = "from an empty teacher cache" if record["texts_scored"] == record["texts_labelled"] else (
        f"with {record['texts_labelled'] - record['texts_scored']} of its texts already in the teacher cache")
    return (f"`llkd-nb advise` on the run `{Path(run_dir).name}` took **{record['minutes']:.1f} min** on {record['cpu']}, "
            f"{record['threads']} threads{', with --check' if record['check'] else ''}: {record['texts_labelled']} texts "
            f"labelled by the teacher {cold}, {record['labelled_texts']} of them with gold labels (commit "
            f"`{(record['git_commit'] or 'unknown')[:10]}`{'' if record['git_clean'] else ', uncommitted changes'}).")
