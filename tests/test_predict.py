"""A run's saved student: transformers' pipeline loads it, and `llkd-nb predict` labels files with it."""

import json

import numpy as np
import pandas as pd
import pytest
from transformers import pipeline

from llkd_nb.student.predict import META_FILE, save_student
from llkd_nb.student.selection import make_strategy
from llkd_nb.student.training import TrainConfig, TrainingData, train_student
from llkd_nb.study.cli import main

LABELS = ["forsale", "wanted"]
TEXTS = ["Selling my old bike, barely used, 50 dollars", "Looking to buy a second-hand sofa, any offers?"] * 6


@pytest.fixture(scope="module")
def saved_student(tmp_path_factory):
    target = np.array([0, 1] * 6)
    data = TrainingData(LABELS, TEXTS, target, np.full(12, 0.9), TEXTS[:4], target[:4], None, [], None)
    config = TrainConfig(max_length=16, batch_size=4, max_steps=6, num_evals=2, lr=1e-3, device="cpu")
    result = train_student(data, make_strategy("all"), config)
    folder = save_student(result.student, tmp_path_factory.mktemp("run") / "student", config.student,
                          config.max_length, {"strategy": "all"})
    return folder, result


def test_transformers_pipeline_predicts_label_names(saved_student):
    folder, result = saved_student
    classify = pipeline("text-classification", model=str(folder), device="cpu")
    predictions = classify(TEXTS[:4])
    assert {p["label"] for p in predictions} <= set(LABELS)
    assert json.loads((folder / META_FILE).read_text())["strategy"] == "all"


def test_predict_command_writes_labels_and_probabilities(saved_student, tmp_path, capsys):
    folder, _ = saved_student
    source = tmp_path / "new.csv"
    pd.DataFrame({"id": [1, 2, 3], "body": TEXTS[:3]}).to_csv(source, index=False)
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(folder), str(source), "--text-column", "body", "--output", str(out)]) == 0
    written = pd.read_json(out, lines=True)
    assert written["id"].tolist() == [1, 2, 3] and set(written["predicted_label"]) <= set(LABELS)
    probabilities = written[[f"prob/{label}" for label in LABELS]].to_numpy()
    assert np.allclose(probabilities.sum(1), 1) and np.allclose(probabilities.max(1), written["confidence"])
    assert "3 predictions written" in capsys.readouterr().out


@pytest.mark.parametrize("frame, args, message", [
    (pd.DataFrame({"text": ["fine", " "]}), [], r"empty text in row\(s\) \[1\]"),
    (pd.DataFrame({"body": ["fine"]}), [], "missing text column 'text'"),
    (pd.DataFrame({"text": ["fine"]}), ["--output", "out.txt"], "output must end in .csv or .jsonl"),
])
def test_predict_rejects_bad_input_clearly(saved_student, tmp_path, capsys, frame, args, message):
    folder, _ = saved_student
    source = tmp_path / "in.jsonl"
    frame.to_json(source, orient="records", lines=True)
    args = [a if a != "out.txt" else str(tmp_path / a) for a in args]
    assert main(["predict", str(folder), str(source), *args]) == 2
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)


def test_predict_needs_a_saved_student(tmp_path, capsys):
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["fine"]}).to_csv(source, index=False)
    assert main(["predict", str(tmp_path), str(source)]) == 2
    assert "is not a saved student" in capsys.readouterr().err
