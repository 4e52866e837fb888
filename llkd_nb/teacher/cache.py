"""On-disk cache of teacher outputs, so that no text is ever labelled twice.

A SQLite file maps a key (model fingerprint, prompt fingerprint, label set, text) to the K label
log-probabilities. Each batch is written in one transaction: a run killed midway leaves every finished
batch on disk and nothing half-written, and the next run resumes from there.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np


class CacheError(RuntimeError):
    """The cache file is unreadable; the message says what to do with it."""


def cache_key(model_fingerprint: str, prompt_fingerprint: str, verbalizers: list[str] | tuple[str, ...], text: str) -> str:
    blob = json.dumps([model_fingerprint, prompt_fingerprint, list(verbalizers), text], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class TeacherCache:
    """``key -> [K] float array`` store backed by SQLite."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path)
            self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, logprobs TEXT NOT NULL)")
            self._db.commit()
        except sqlite3.DatabaseError as error:
            raise CacheError(
                f"teacher cache {self.path} is not a readable SQLite file ({error}); "
                "move it aside or delete it to start a new cache"
            ) from error

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start: start + 500]
            rows = self._db.execute(
                f"SELECT key, logprobs FROM scores WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            found.update((key, np.asarray(json.loads(values), dtype=np.float64)) for key, values in rows)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        """Write all ``items`` in one transaction (all or nothing)."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO scores (key, logprobs) VALUES (?, ?)",
                [(key, json.dumps([float(v) for v in values])) for key, values in items.items()],
            )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]

    def close(self) -> None:
        self._db.close()
