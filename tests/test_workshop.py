"""The instructor's guide and the exercises agree: every exercise config exists and is named where its
exercise is set, the plan adds up to the session it announces, and the exercises done in the room were measured to fit."""

import json
import re
from pathlib import Path

import yaml

from llkd_nb.study.report import IN_SESSION_MINUTES, exercises_block

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "papers" / "workshop.md").read_text()
EXERCISES = ROOT / "configs" / "exercises"
CONFIG = re.compile(r"configs/exercises/(\w+\.yaml)")


def exercise_texts() -> str:
    texts = []
    for path in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        texts += ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
                  if "".join(cell["source"]).startswith("## Exercises")]
    return "\n".join(texts)


def block(name: str) -> str:
    return GUIDE.split(f"<!-- report:{name} -->", 1)[1].split(f"<!-- /report:{name} -->", 1)[0]


def test_every_exercise_config_exists_and_its_notebook_names_it():
    named = set(CONFIG.findall(exercise_texts()))
    shipped = {path.name for path in EXERCISES.glob("*.yaml")}
    assert named <= shipped, f"notebooks name exercise configs that do not exist: {sorted(named - shipped)}"
    assert shipped <= named, f"exercise configs that no notebook's exercises name: {sorted(shipped - named)}"
    for path in EXERCISES.glob("*.yaml"):
        values = yaml.safe_load(path.read_text())
        assert values["extends"] == "../workshop.yaml" and values["name"].startswith("exercise_")
        assert 1 in values["notebooks"], f"{path.name}: notebook 01 writes the artifact the others read"


def test_the_plan_fills_the_session_it_announces_without_gaps():
    hours, half = re.search(r"A (\d)(½?)-hour hands-on session", GUIDE).groups()
    rows = re.findall(r"^\| (\d):(\d\d)-(\d):(\d\d) \|", GUIDE, flags=re.MULTILINE)
    minutes = [(int(a) * 60 + int(b), int(c) * 60 + int(d)) for a, b, c, d in rows]
    assert minutes[0][0] == 0 and minutes[-1][1] == 60 * int(hours) + (30 if half else 0)
    assert all(end == start for (_, end), (start, _) in zip(minutes, minutes[1:]))


def test_the_exercises_done_in_the_room_were_measured_to_fit():
    table = block("exercises")
    measured = {row[0]: (row[1], row[2]) for row in re.findall(r"\| `exercises/(\w+\.yaml)` \|[^|]*\|[^|]*\| ([^|]+) \| ([^|]+) \|", table)}
    assert set(measured) == {path.name for path in EXERCISES.glob("*.yaml")}, "`llkd-nb exercises` after `make exercises`"
    in_the_room = re.findall(r"`(\w+\.yaml)`", GUIDE.split("## Plan and learning goals", 1)[1].split("##", 1)[0])
    assert in_the_room, "the plan names the exercises done in the room"
    for name in in_the_room:
        minutes, when = measured[name]
        assert when.strip() == "in session" and float(minutes) <= IN_SESSION_MINUTES, f"{name}: {minutes} min, {when}"
    assert "From empty caches it took" in block("workshop")


def test_the_exercise_table_reads_each_exercises_first_run_and_the_command_writes_the_guide(tmp_path):
    """A rerun finds the exercise's own runs cached: the table keeps the first run's time."""
    from llkd_nb.study.cli import main

    exercises, runs = tmp_path / "configs" / "exercises", tmp_path / "runs"
    exercises.mkdir(parents=True)
    (tmp_path / "configs" / "workshop.yaml").write_text("name: workshop\nmax_steps: 80\n")
    for name, minutes in (("quick", 1.2), ("slow", 7.5), ("never", None)):
        (exercises / f"{name}.yaml").write_text(f"extends: ../workshop.yaml\nname: {name}\nnotebooks: [1, 3]\nmax_steps: 9\n")
        if minutes is not None:
            (runs / name / "config").mkdir(parents=True)
            (runs / name / "config" / "timings_history.yaml").write_text(yaml.safe_dump(
                [{"minutes": {"total": minutes}}, {"minutes": {"total": 0.3}}]))
    table = exercises_block(exercises, runs)
    assert "| `exercises/quick.yaml` | 01, 03 | `max_steps: 9` | 1.2 | in session |" in table
    assert "| 7.5 | take-home |" in table and "| – | not measured |" in table
    guide = tmp_path / "guide.md"
    guide.write_text("a\n<!-- report:workshop -->\n<!-- /report:workshop -->\nb\n<!-- report:exercises -->\n"
                     "<!-- /report:exercises -->\nc\n")
    assert main(["exercises", "--runs-dir", str(runs), "--exercises-dir", str(exercises), "--guide", str(guide)]) == 0
    written = guide.read_text()
    assert "`workshop` has not been run yet." in written and table in written and written.endswith("c\n")
