"""The result store of a sweep or campaign: one SQLite file under the output folder.

Why SQLite: it is in the standard library (no new dependency), one file that any tool
reads (``sqlite3 results.sqlite 'select * from results'``, pandas, DuckDB), and every row
is written in its own transaction, so a process killed with SIGKILL loses nothing that was
committed and never leaves a half-written row; the key is the table's primary key, so a
point cannot be stored twice. Parquet would need pyarrow and a file per batch, and it
gives neither atomic appends nor a uniqueness constraint. Only the process that drives
the run writes (workers return their rows to it), so there is one writer at a time."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

STORE_NAME = "results.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,          -- the point's identity (a sweep's overrides, a seed)
    spec TEXT NOT NULL,            -- JSON: what was evaluated (full override set, seed...)
    model_hash TEXT NOT NULL,      -- content hash of the evaluated description
    tool_version TEXT NOT NULL,    -- neurochip version that computed the row
    status TEXT NOT NULL,          -- ok | mismatch | error
    result TEXT NOT NULL,          -- JSON: the figures
    seconds REAL NOT NULL,         -- wall time of the evaluation on its worker
    finished_at TEXT NOT NULL
);
"""


class StoreError(ValueError):
    """The output folder holds a store of another kind or another run."""


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neurochip")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class Row:
    key: str
    spec: dict
    model_hash: str
    status: str
    result: dict
    seconds: float
    tool_version: str = ""


class Store:
    """``identity`` (a JSON-able dict) names what the store holds: a store made for another
    identity is refused with the first field that differs."""

    def __init__(self, folder: str | Path, kind: str, identity: dict):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise StoreError(f"-o {folder}: exists and is not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / STORE_NAME
        self.db = sqlite3.connect(self.path, timeout=30)
        self.db.executescript(SCHEMA)
        meta = dict(self.db.execute("SELECT name, value FROM meta"))
        wanted = json.dumps(identity, sort_keys=True)
        if not meta:
            with self.db:
                self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                    [("kind", kind), ("identity", wanted),
                                     ("created_by", tool_version())])
            return
        if meta.get("kind") != kind:
            raise StoreError(f"-o {folder}: holds a {meta.get('kind')} store, not a {kind}; "
                             "use another output folder")
        if meta.get("identity") != wanted:
            old = json.loads(meta["identity"])
            diff = next((k for k in sorted(set(old) | set(identity))
                         if old.get(k) != identity.get(k)), "?")
            raise StoreError(f"-o {folder}: holds another {kind} ({diff}: "
                             f"{_short(old.get(diff))} there, {_short(identity.get(diff))} now); "
                             "resume only with the same command, or use another output folder")

    def done(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM results")}

    def add(self, row: Row) -> bool:
        """Store ``row`` in its own transaction; False when its key was already there."""
        with self.db:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row.key, json.dumps(row.spec, sort_keys=True), row.model_hash,
                 row.tool_version or tool_version(), row.status,
                 json.dumps(row.result, sort_keys=True), float(row.seconds),
                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        return cur.rowcount == 1

    def rows(self) -> list[Row]:
        out = []
        for key, spec, mh, ver, status, result, seconds, _ in self.db.execute(
                "SELECT * FROM results ORDER BY rowid"):
            out.append(Row(key, json.loads(spec), mh, status, json.loads(result), seconds, ver))
        return out

    def close(self) -> None:
        self.db.close()


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
