"""The per-request store: one SQLite file in WAL mode.

Every answer is committed the moment it arrives, so a process killed at any
point loses at most the requests still in flight; WAL keeps a half-written
transaction out of the database.  Failed attempts are kept apart from
answers, and a request that used up its retry budget is marked ``exhausted``
so that a rerun reports it again without paying for it (unless asked to retry).
Batch submissions are recorded with the keys they carry, so that a rerun picks
them up instead of submitting again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ..errors import LLMError

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, request TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    key TEXT NOT NULL, attempt INTEGER NOT NULL, failure TEXT NOT NULL, error TEXT NOT NULL,
    created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_by_key ON attempts (key);
CREATE TABLE IF NOT EXISTS exhausted (
    key TEXT PRIMARY KEY, failure TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, submission TEXT NOT NULL, input_file_id TEXT NOT NULL,
    status TEXT NOT NULL, collected INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batch_keys (
    batch_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (batch_id, key));
CREATE INDEX IF NOT EXISTS batch_keys_by_key ON batch_keys (key);
"""
CHUNK = 500  # keys per IN (...) query, well under SQLite's variable limit


@dataclass(frozen=True)
class Stored:
    text: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Exhausted:
    failure: str
    error: str
    attempts: int


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start:start + CHUNK]


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against a killed process in WAL mode; only a power cut can
            # drop the last commits, and those requests would simply be sent again.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise LLMError(f"cannot open the LLM cache at {self.path}: {exc}. "
                           "Pass --llm-cache PATH to a writable file, or --no-cache.") from None

    def close(self) -> None:
        self.db.close()

    # -- answers -----------------------------------------------------------------------
    def answers(self, keys: Iterable[str]) -> dict[str, Stored]:
        found = {}
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            with closing(self.db.execute(
                    f"SELECT key, text, prompt_tokens, completion_tokens FROM responses WHERE key IN ({marks})",
                    chunk)) as cursor:
                for key, text, prompt_tokens, completion_tokens in cursor:
                    found[key] = Stored(text, prompt_tokens, completion_tokens)
        return found

    def put_answer(self, key: str, text: str, prompt_tokens: int, completion_tokens: int, request: dict) -> None:
        # First answer wins: a key is answered once, whatever arrives later.
        self.db.execute(
            "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
            (key, text, prompt_tokens, completion_tokens, json.dumps(request, sort_keys=True, ensure_ascii=False),
             time.time()))
        self.db.execute("DELETE FROM exhausted WHERE key = ?", (key,))

    # -- failures ----------------------------------------------------------------------
    def add_attempt(self, key: str, attempt: int, failure: str, error: str) -> None:
        self.db.execute("INSERT INTO attempts VALUES (?, ?, ?, ?, ?)", (key, attempt, failure, error, time.time()))

    def mark_exhausted(self, key: str, failure: str, error: str, attempts: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO exhausted VALUES (?, ?, ?, ?, ?)",
                        (key, failure, error, attempts, time.time()))

    def exhausted(self, keys: Iterable[str]) -> dict[str, Exhausted]:
        found = {}
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            with closing(self.db.execute(
                    f"SELECT key, failure, error, attempts FROM exhausted WHERE key IN ({marks})", chunk)) as cursor:
                for key, failure, error, attempts in cursor:
                    found[key] = Exhausted(failure, error, attempts)
        return found

    def attempt_count(self, key: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM attempts WHERE key = ?", (key,)).fetchone()[0]

    # -- batches -----------------------------------------------------------------------
    def add_batch(self, batch_id: str, submission: str, input_file_id: str, status: str, keys: list[str]) -> None:
        self.db.execute("BEGIN")
        self.db.execute("INSERT OR IGNORE INTO batches (batch_id, submission, input_file_id, status, created) "
                        "VALUES (?, ?, ?, ?, ?)", (batch_id, submission, input_file_id, status, time.time()))
        self.db.executemany("INSERT OR IGNORE INTO batch_keys VALUES (?, ?)", [(batch_id, k) for k in keys])
        self.db.execute("COMMIT")

    def set_batch_status(self, batch_id: str, status: str, collected: bool = False) -> None:
        self.db.execute("UPDATE batches SET status = ?, collected = ? WHERE batch_id = ?",
                        (status, int(collected), batch_id))

    def open_batches(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """Batches not yet collected that carry any of ``keys``: batch id -> its keys among them."""
        wanted = set(keys)
        found: dict[str, list[str]] = {}
        rows = self.db.execute("SELECT b.batch_id, k.key FROM batches b JOIN batch_keys k USING (batch_id) "
                               "WHERE b.collected = 0 ORDER BY b.created, k.key").fetchall()
        for batch_id, key in rows:
            if key in wanted:
                found.setdefault(batch_id, []).append(key)
        return found

    def batch_ids(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT batch_id FROM batches ORDER BY created")]
