"""The teacher artifact: every labelled text with the teacher's full distribution, saved as Parquet.

Columns: ``id, split, text, gold`` (gold: analysis only), ``raw/<label>`` (the teacher's distribution
over the K labels) and ``pseudo_label, confidence`` under the run's calibration. Metadata (dataset,
labels, teacher fingerprint, prompt, calibration, content-free distribution) rides in the Parquet
schema, so one file carries everything a later notebook needs; any calibration can be recomputed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .calibration import calibrate

SPLITS = ("pool", "validation", "test")
ARTIFACT_FILE = "teacher_labels.parquet"  # inside a run folder
_META_KEY = b"llkd_nb"

#: Decimals an artifact's probabilities are rounded to: its raw distribution and, under its calibration, the
#: distribution its pseudo-labels and confidences come from. The teacher's log-probabilities are rounded
#: already (:data:`~llkd_nb.teacher.labeling.LOGPROB_DECIMALS`), but numpy's ``exp`` takes another SIMD path
#: on another CPU (AVX-512 or not), which may land one unit in the last place (1e-16) apart; at 1e-9 such a
#: unit changes a rounded value about once in ten million, and 1e-9 is far finer than the 1 % that the
#: rounded log-probabilities resolve. Other teachers' probabilities (proxies, simulations) are rounded alike.
PROBABILITY_DECIMALS = 9


def rounded_probabilities(probs: np.ndarray) -> np.ndarray:
    """``probs`` rounded to :data:`PROBABILITY_DECIMALS` (the same on every machine)."""
    return np.round(np.asarray(probs, dtype=np.float64), PROBABILITY_DECIMALS)


class ArtifactError(ValueError):
    """An artifact that does not fit: wrong dataset or label set, or missing columns."""


@dataclass
class TeacherArtifact:
    frame: pd.DataFrame
    meta: dict

    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def split(self, name: str) -> pd.DataFrame:
        if name not in SPLITS:
            raise ArtifactError(f"unknown split {name!r}; splits are {SPLITS}")
        return self.frame[self.frame["split"] == name]

    def raw_probs(self, split: str) -> np.ndarray:
        return self.split(split)[[f"raw/{label}" for label in self.labels]].to_numpy(float)

    def probs(self, split: str, calibration: str | None = None) -> np.ndarray:
        """The teacher's distribution on ``split`` under ``calibration`` (default: the run's)."""
        return calibrate(
            self.raw_probs(split), calibration or self.meta["calibration"],
            pool_probs=self.raw_probs("pool"), content_free_probs=np.asarray(self.meta["content_free_probs"]),
        )

    def pseudo_labels(self, split: str) -> np.ndarray:
        return self.split(split)["pseudo_label"].map(self.labels.index).to_numpy()

    def confidence(self, split: str) -> np.ndarray:
        return self.split(split)["confidence"].to_numpy(float)

    def has_gold(self, split: str) -> bool:
        """Whether every text of ``split`` has a gold label (and the split is not empty)."""
        gold = self.split(split)["gold"]
        return len(gold) > 0 and bool(gold.notna().all())

    def gold(self, split: str) -> np.ndarray:
        if not self.has_gold(split):
            raise ArtifactError(f"the {split} split has no gold labels (an unlabeled dataset); "
                                "this needs a labelled file (eval_dataset)")
        return self.split(split)["gold"].map(self.labels.index).to_numpy()

    def texts(self, split: str) -> list[str]:
        return self.split(split)["text"].tolist()

    def recalibrated(self, calibration: str) -> "TeacherArtifact":
        """The same teacher outputs, with pseudo-labels and confidences under another calibration."""
        artifact = TeacherArtifact(frame=self.frame.copy(), meta={**self.meta, "calibration": calibration})
        artifact._assign_pseudo_labels()
        return artifact

    def with_distribution(self, probs: dict[str, np.ndarray], meta: dict) -> "TeacherArtifact":
        """Another teacher on the same texts: ``probs`` per split become the raw distribution, used as
        they are (calibration ``none``); ``meta`` is merged into this artifact's metadata."""
        frame = self.frame.copy()
        columns = [f"raw/{label}" for label in self.labels]
        for name in SPLITS:
            frame.loc[frame["split"] == name, columns] = rounded_probabilities(probs[name])
        artifact = TeacherArtifact(frame=frame, meta={**self.meta, **meta, "calibration": "none"})
        artifact._assign_pseudo_labels()
        return artifact

    def _assign_pseudo_labels(self) -> None:
        """Pseudo-label and confidence of every row under the artifact's calibration (its distribution
        rounded first, :data:`PROBABILITY_DECIMALS`: what a threshold reads is the same on every machine)."""
        pseudo_label = np.empty(len(self.frame), dtype=object)
        confidence = np.empty(len(self.frame))
        for name in SPLITS:
            rows = (self.frame["split"] == name).to_numpy()
            probs = rounded_probabilities(self.probs(name))
            pseudo_label[rows] = np.asarray(self.labels)[probs.argmax(axis=1)]
            confidence[rows] = probs.max(axis=1)
        self.frame["pseudo_label"] = pseudo_label
        self.frame["confidence"] = confidence

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file, then rename): a reader never sees half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(self.frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(self.meta).encode()})
        tmp = path.with_suffix(path.suffix + ".tmp")
        pq.write_table(table, tmp)
        tmp.replace(path)
        return path

    def identity(self) -> dict:
        """What makes two artifacts interchangeable: teacher, prompt, calibration and the texts."""
        digest = hashlib.sha256("\x1f".join(self.frame["split"] + ":" + self.frame["id"]).encode()).hexdigest()[:16]
        return {"dataset": self.meta.get("dataset"), "teacher": self.meta.get("teacher_fingerprint"),
                "prompt": self.meta.get("prompt"), "calibration": self.meta["calibration"], "texts": digest}

    def save_to_run(self, run_dir: str | Path) -> Path:
        return self.save(Path(run_dir) / ARTIFACT_FILE)

    @classmethod
    def load_from_run(cls, run_dir: str | Path) -> "TeacherArtifact":
        """The artifact notebook 01 wrote into ``run_dir``."""
        return cls.load(Path(run_dir) / ARTIFACT_FILE)

    @classmethod
    def load(cls, path: str | Path, dataset: str | None = None, labels: list[str] | None = None) -> "TeacherArtifact":
        """Read an artifact; ``dataset`` / ``labels`` (when given) must match what it was made for."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"teacher artifact not found: {path} (run notebook 01 first)")
        table = pq.read_table(path)
        raw_meta = (table.schema.metadata or {}).get(_META_KEY)
        if raw_meta is None:
            raise ArtifactError(f"{path} is not a teacher artifact (no llkd_nb metadata)")
        artifact = cls(frame=table.to_pandas(), meta=json.loads(raw_meta))
        artifact.check(dataset=dataset, labels=labels, source=str(path))
        return artifact

    def check(self, dataset: str | None = None, labels: list[str] | None = None, source: str = "artifact") -> None:
        if dataset is not None and self.meta.get("dataset") != dataset:
            raise ArtifactError(f"{source} was made for dataset {self.meta.get('dataset')!r}, not {dataset!r}")
        if labels is not None and list(labels) != self.labels:
            raise ArtifactError(f"{source} has label set {self.labels}, expected {list(labels)}")
        needed = ["id", "split", "text", "gold", "pseudo_label", "confidence"] + [f"raw/{label}" for label in self.labels]
        missing = [c for c in needed if c not in self.frame.columns]
        if missing:
            raise ArtifactError(f"{source} is missing column(s) {missing}")
        unknown = (set(self.frame["pseudo_label"]) | set(self.frame["gold"].dropna())) - set(self.labels)
        if unknown:
            raise ArtifactError(f"{source} has labels outside its label set: {sorted(unknown)}")


def build_artifact(splits: dict[str, pd.DataFrame], raw_probs: dict[str, np.ndarray], labels: list[str],
                   calibration: str, content_free_probs: np.ndarray, meta: dict) -> TeacherArtifact:
    """Assemble the artifact from per-split frames (``id, text, label``) and raw teacher distributions."""
    frames = []
    for name in SPLITS:
        part = splits[name][["id", "text"]].copy()
        part.insert(1, "split", name)
        part["gold"] = splits[name]["label"].to_numpy()
        part[[f"raw/{label}" for label in labels]] = rounded_probabilities(raw_probs[name])
        frames.append(part)
    frame = pd.concat(frames, ignore_index=True)
    artifact = TeacherArtifact(frame=frame, meta={
        **meta, "labels": list(labels), "calibration": calibration,
        "content_free_probs": [float(p) for p in rounded_probabilities(content_free_probs)],
    })
    artifact._assign_pseudo_labels()
    return artifact
