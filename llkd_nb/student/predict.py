"""A run's student as a standard Hugging Face classifier: save it, load it, label new texts with it.

The saved folder (``runs/<name>/student/``) holds the whole network (frozen layers included), its
tokenizer and the label names, so ``transformers.pipeline("text-classification", model=folder)``
predicts label names with no code of ours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.data import DataError, read_table
from ..core.hf import quiet_transformers
from .encoder import Student, load_tokenizer

META_FILE = "llkd_student.json"


def save_student(student: Student, folder: str | Path, student_name: str, max_length: int, meta: dict | None = None) -> Path:
    """Save ``student`` with its tokenizer and label names; ``meta`` (how it was trained) goes beside."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with student.full_model() as model:
        with quiet_transformers():  # no "Writing model shards" bar in the notebook
            model.save_pretrained(folder)
    tokenizer = load_tokenizer(student_name)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(folder)
    (folder / META_FILE).write_text(json.dumps({"max_length": max_length, **(meta or {})}, indent=2, default=str))
    return folder


def read_texts(path: str | Path, text_column: str = "text") -> pd.DataFrame:
    """The texts of a CSV / JSONL / Parquet file; errors name the file, column or rows at fault."""
    frame = read_table(path)
    if text_column not in frame.columns:
        raise DataError(f"{path}: missing text column {text_column!r}; columns are {list(frame.columns)}")
    texts = frame[text_column].fillna("").astype(str)
    empty = texts.index[texts.str.strip() == ""]
    if len(empty):
        raise DataError(f"{path}: empty text in row(s) {list(empty[:10])}")
    return frame


def predict_file(model_dir: str | Path, source: str | Path, output: str | Path, text_column: str = "text",
                 batch_size: int = 64, progress: bool = True) -> pd.DataFrame:
    """Label every text of ``source`` with the saved student; write the input columns plus
    ``predicted_label``, ``confidence`` and ``prob/<label>`` to ``output`` (.csv or .jsonl)."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir, output = Path(model_dir), Path(output)
    if not (model_dir / "config.json").exists():
        raise DataError(f"{model_dir} is not a saved student (no config.json); a run saves one in runs/<name>/student")
    if output.suffix.lower() not in (".csv", ".jsonl"):
        raise DataError(f"output must end in .csv or .jsonl, got {output.name}")
    frame = read_texts(source, text_column)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    texts = frame[text_column].astype(str).tolist()
    chunks = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), batch_size), desc="predicting", unit="batch", disable=not progress):
            encoded = tokenizer(texts[start: start + batch_size], truncation=True, padding=True, return_tensors="pt")
            chunks.append(torch.softmax(model(**encoded).logits.float(), -1).numpy())
    proba = np.concatenate(chunks) if chunks else np.zeros((0, len(labels)))
    out = frame.assign(predicted_label=np.asarray(labels)[proba.argmax(1)] if len(proba) else [],
                       confidence=proba.max(1) if len(proba) else [])
    for k, label in enumerate(labels):
        out[f"prob/{label}"] = proba[:, k]
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".csv":
        out.to_csv(output, index=False)
    else:
        out.to_json(output, orient="records", lines=True, force_ascii=False)
    return out
