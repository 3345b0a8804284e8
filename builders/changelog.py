"""What changed between two published versions, as a Markdown section of the card.

A version is summarised by a ``Snapshot``: rows per config and split, the
column types of each config, and (when the files carry an ``id`` column) the
row ids of each split, so that the changelog can say which rows were added and
removed rather than only the net change.  Snapshots are built from any opener
of Parquet files, local or remote, so the same code reads the build folder and
the previous tag on the Hub.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

import pyarrow.parquet as pq

# data/<config>/<split>-00000-of-00001.parquet
DATA_FILE = re.compile(r"^data/(?P<config>[^/]+)/(?P<split>[^/]+?)-\d{5}-of-\d{5}\.parquet$")


def data_file_key(path: str) -> tuple[str, str] | None:
    """(config, split) of a data file path, or None for any other file."""
    match = DATA_FILE.match(path)
    return (match["config"], match["split"]) if match else None


@dataclass
class Snapshot:
    version: str
    rows: dict[str, dict[str, int]]
    columns: dict[str, dict[str, str]]  # config -> column -> type
    ids: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)


def snapshot(
    version: str,
    rows: dict[str, dict[str, int]],
    paths: Iterable[str],
    open_file: Callable[[str], BinaryIO],
) -> Snapshot:
    """Read the schema and the ``id`` column of every data file in ``paths``."""
    columns: dict[str, dict[str, str]] = {}
    ids: dict[tuple[str, str], frozenset[str]] = {}
    for path in sorted(paths):
        key = data_file_key(path)
        if key is None:
            continue
        with open_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            schema = parquet.schema_arrow
            columns.setdefault(key[0], {}).update({f.name: _type_name(f.type) for f in schema})
            if "id" in schema.names:
                values = parquet.read(columns=["id"]).column("id").to_pylist()
                ids[key] = ids.get(key, frozenset()) | frozenset(values)
    return Snapshot(version, rows, columns, ids)


def _type_name(arrow_type) -> str:
    # Polars writes 64-bit offsets (large_string, large_list); readers see plain strings and lists.
    return re.sub(r"\blarge_", "", str(arrow_type))


@dataclass
class RowChange:
    config: str
    split: str
    before: int
    after: int
    added: int
    removed: int
    exact: bool  # counted from row ids rather than from the net change


@dataclass
class Changelog:
    version: str
    previous: str | None
    rows: list[RowChange] = field(default_factory=list)
    configs_added: list[str] = field(default_factory=list)
    configs_removed: list[str] = field(default_factory=list)
    schema: list[str] = field(default_factory=list)  # one sentence per change

    @property
    def unchanged(self) -> bool:
        return not (self.configs_added or self.configs_removed or self.schema
                    or any(r.added or r.removed for r in self.rows))


def compare(old: Snapshot | None, new: Snapshot) -> Changelog:
    if old is None:
        return Changelog(new.version, None)
    log = Changelog(new.version, old.version)
    log.configs_added = sorted(set(new.rows) - set(old.rows))
    log.configs_removed = sorted(set(old.rows) - set(new.rows))
    for config in sorted(set(old.rows) | set(new.rows)):
        splits = set(old.rows.get(config, {})) | set(new.rows.get(config, {}))
        for split in sorted(splits, key=_split_order):
            before = old.rows.get(config, {}).get(split, 0)
            after = new.rows.get(config, {}).get(split, 0)
            old_ids, new_ids = old.ids.get((config, split)), new.ids.get((config, split))
            if (before == 0 or old_ids is not None) and (after == 0 or new_ids is not None):
                old_ids, new_ids = old_ids or frozenset(), new_ids or frozenset()
                added, removed, exact = len(new_ids - old_ids), len(old_ids - new_ids), True
            else:
                added, removed, exact = max(after - before, 0), max(before - after, 0), False
            log.rows.append(RowChange(config, split, before, after, added, removed, exact))
    log.schema = _schema_changes(old.columns, new.columns)
    return log


def _split_order(split: str) -> tuple[int, str]:
    order = {"train": 0, "validation": 1, "test": 2}
    return (order.get(split, 3), split)


def _schema_changes(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]]) -> list[str]:
    """Changes per config, merged when several configs changed the same way."""
    by_change: dict[str, list[str]] = {}
    shared = sorted(set(old) & set(new))
    for config in shared:
        before, after = old[config], new[config]
        for name in after.keys() - before.keys():
            by_change.setdefault(f"column `{name}` added (`{after[name]}`)", []).append(config)
        for name in before.keys() - after.keys():
            by_change.setdefault(f"column `{name}` removed (was `{before[name]}`)", []).append(config)
        for name in before.keys() & after.keys():
            if before[name] != after[name]:
                change = f"column `{name}` type changed: `{before[name]}` -> `{after[name]}`"
                by_change.setdefault(change, []).append(config)
    lines = []
    for change, configs in sorted(by_change.items()):
        where = "all configs" if configs == shared and len(shared) > 1 else ", ".join(configs)
        lines.append(f"{change} in {where}")
    return lines


def render(log: Changelog) -> str:
    """The card's changelog section (Markdown, deterministic)."""
    out = ["## Changelog", "", f"### {log.version}", ""]
    if log.previous is None:
        out += ["First published version.", ""]
        return "\n".join(out)
    out += [f"Compared with `{log.previous}` (load it with `revision=\"{log.previous}\"`).", ""]
    if log.unchanged:
        out += ["No changes to rows or columns.", ""]
    if log.configs_added:
        out += ["Configs added: " + ", ".join(f"`{c}`" for c in log.configs_added), ""]
    if log.configs_removed:
        out += ["Configs removed: " + ", ".join(f"`{c}`" for c in log.configs_removed), ""]
    out += ["Rows per config and split:", "",
            f"| config | split | {log.previous} | {log.version} | added | removed |",
            "|---|---|---:|---:|---:|---:|"]
    for r in log.rows:
        mark = "" if r.exact else "*"
        out.append(f"| {r.config} | {r.split} | {r.before} | {r.after} | +{r.added}{mark} | -{r.removed}{mark} |")
    if not all(r.exact for r in log.rows):
        out += ["", "\\* net change; the files carry no `id` column to match rows."]
    out += ["", "Schema changes:", ""]
    out += [f"- {line}" for line in log.schema] or ["- none"]
    out.append("")
    return "\n".join(out)
