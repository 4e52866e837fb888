"""The teacher artifact: round trip, atomic save, and clear errors for artifacts that do not fit."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llkd_nb.teacher.artifacts import ArtifactError, TeacherArtifact, build_artifact

LABELS = ["a", "b"]


def make_artifact(calibration="batch"):
    frames = {name: pd.DataFrame({"id": [f"{name}{i}" for i in range(2)], "text": ["x", "y"], "label": ["a", "b"]})
              for name in ("pool", "validation", "test")}
    raw = {name: np.array([[0.8, 0.2], [0.6, 0.4]]) for name in frames}
    return build_artifact(frames, raw, LABELS, calibration, np.array([0.5, 0.5]), {"dataset": "toy"})


def test_round_trip_keeps_distribution_and_metadata(tmp_path):
    artifact = make_artifact()
    path = artifact.save(tmp_path / "t.parquet")
    assert not list(tmp_path.glob("*.tmp"))
    loaded = TeacherArtifact.load(path, dataset="toy", labels=LABELS)
    assert np.allclose(loaded.raw_probs("pool"), [[0.8, 0.2], [0.6, 0.4]])
    # batch calibration over the pool moves the second text to label b (see test_teacher)
    assert loaded.pseudo_labels("pool").tolist() == [0, 1] and loaded.gold("pool").tolist() == [0, 1]
    assert np.allclose(loaded.probs("pool", "none"), loaded.raw_probs("pool"))


def test_wrong_dataset_or_label_set(tmp_path):
    path = make_artifact().save(tmp_path / "t.parquet")
    with pytest.raises(ArtifactError, match="made for dataset 'toy', not 'bbc_news'"):
        TeacherArtifact.load(path, dataset="bbc_news")
    with pytest.raises(ArtifactError, match=r"label set \['a', 'b'\], expected \['a', 'c'\]"):
        TeacherArtifact.load(path, labels=["a", "c"])


def test_missing_columns_and_foreign_files(tmp_path):
    artifact = make_artifact()
    artifact.frame = artifact.frame.drop(columns=["confidence"])
    path = artifact.save(tmp_path / "t.parquet")
    with pytest.raises(ArtifactError, match=r"missing column\(s\) \['confidence'\]"):
        TeacherArtifact.load(path)
    pq.write_table(pa.table({"text": ["x"]}), tmp_path / "plain.parquet")
    with pytest.raises(ArtifactError, match="not a teacher artifact"):
        TeacherArtifact.load(tmp_path / "plain.parquet")
    with pytest.raises(FileNotFoundError, match="run notebook 01 first"):
        TeacherArtifact.load(tmp_path / "absent.parquet")


def test_what_thresholds_read_does_not_move_with_a_machines_last_bits(random_teacher_artifact):
    """Log-probabilities 2e-5 nats apart (the gap measured between 1 and 2 threads, well inside a 0.01-nat
    step) round to the same values; distributions one unit in the last place apart (numpy's exp on another
    CPU) make the same artifact, pseudo-labels, confidences and all."""
    from llkd_nb.teacher.artifacts import PROBABILITY_DECIMALS
    from llkd_nb.teacher.labeling import LOGPROB_DECIMALS, rounded_logprobs

    rng = np.random.default_rng(0)
    centres = np.round(rng.uniform(-15, -1, (200, 5)), LOGPROB_DECIMALS) + rng.uniform(-0.004, 0.004, (200, 5))
    assert np.array_equal(rounded_logprobs(centres), rounded_logprobs(centres + rng.uniform(-2e-5, 2e-5, centres.shape)))
    base = random_teacher_artifact(20, 5, 5)
    frames = {name: base.split(name).rename(columns={"gold": "label"}) for name in ("pool", "validation", "test")}
    raw = {name: base.raw_probs(name) for name in frames}
    nudged = {name: np.nextafter(probs, 1.0) for name, probs in raw.items()}
    one, other = (build_artifact(frames, probs, base.labels, "batch", np.full(5, 0.2), {}) for probs in (raw, nudged))
    assert not np.array_equal(raw["pool"], nudged["pool"])
    pd.testing.assert_frame_equal(one.frame, other.frame, check_exact=True)
    assert np.array_equal(one.confidence("pool"), np.round(one.confidence("pool"), PROBABILITY_DECIMALS))
