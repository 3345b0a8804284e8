"""The output folder: what ``--out`` may replace, and the staging folder beside it.

A build is written into a staging folder next to ``--out`` and moved into
place at the end.  Only an empty folder or an earlier build of this tool
(recognised by its ``manifest.json``, and holding nothing the manifest does
not list) may be replaced; anything else belongs to the user and is refused
before the work starts.  Each staging folder has a lock file beside it that
names the process writing it, so the next run can tell a folder left by a
killed run from one that another build is still writing.
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from .errors import BuildError

OWN_FILES = ("README.md", "manifest.json")
LEGACY_ENTRIES = {"README.md", "manifest.json", "data", "audit"}  # what a build folder can hold at its top


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a build written by this tool, or None if ``folder`` is not one."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or "recipe_sha256" not in manifest:
        return None
    if not (isinstance(manifest.get("files"), dict) and isinstance(manifest.get("rows"), dict)):
        return None
    return manifest


def foreign_entries(folder: Path, manifest: dict) -> list[str]:
    """Files and links under ``folder`` that are not the build's own: replacing it would lose them."""
    own = set(OWN_FILES) | set(manifest["files"])
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):  # never descends into a linked folder
        base = Path(dirpath)
        for name in filenames + [d for d in dirnames if (base / d).is_symlink()]:
            path = base / name
            rel = path.relative_to(folder).as_posix()
            if rel not in own or path.is_symlink():
                found.append(rel)
    return sorted(found)


def some(paths: list[str], shown: int = 3) -> str:
    return ", ".join(paths[:shown]) + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


def check_out(out: Path, inputs: Iterable[tuple[str, Path]] = ()) -> Path:
    """Refuse an ``--out`` whose replacement would destroy anything but an earlier build.

    ``inputs`` pairs each input of the build with the option that named it
    (``--sources``, ``--decontaminate`` ...).  Returns the folder, resolved.
    """
    target = Path(out).expanduser().resolve()
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        where = "the current folder" if target == here else "a folder that holds the current folder"
        raise BuildError(f"--out {out} is {where}, and a build replaces its --out folder. "
                         "Choose a folder of its own, e.g. --out dist/v2.")
    for label, path in inputs:
        used = Path(path).expanduser().resolve()
        if used == target or target in used.parents:
            named = f"{label}{path}" if label.endswith("=") else f"{label} {path}"
            raise BuildError(f"--out {out} would replace {named}, which the build reads. "
                             "Choose an --out outside it.")
    if target.exists():
        if not target.is_dir():
            raise BuildError(f"--out {out} is a file, not a folder. Choose another --out, or move the file away.")
        if any(target.iterdir()):
            manifest = read_manifest(target)
            if manifest is None:
                raise BuildError(
                    f"--out {out} is not empty and is not a build of this tool (it has no manifest.json "
                    "written by build-dataset), so it is left as it is. Choose a new or empty folder, "
                    "e.g. --out dist/v2.")
            foreign = foreign_entries(target, manifest)
            if foreign:
                raise BuildError(
                    f"--out {out} is an earlier build, but it also holds {some(foreign)}, which the build "
                    f"did not write and which replacing the folder would delete. Move {'it' if len(foreign) == 1 else 'them'} "
                    "out of the folder first, or choose another --out.")
    check_writable(target.parent, f"--out {out}")
    return target


def check_writable(folder: Path, what: str, fix: str = "Choose a location you can write to.") -> None:
    """Fail now, not after the whole build, if nothing can be created in ``folder``.

    The nearest folder that exists is probed by making and removing an empty
    folder in it.  That catches permission bits, read-only mounts and a file
    standing where a folder is expected alike, and unlike ``os.access`` it
    gives the true answer for root.
    """
    existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BuildError(f"{what}: {existing} is a file, so no folder can be made under it. {fix}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mts-probe-", dir=existing))
    except OSError as err:
        raise BuildError(f"{what}: cannot create anything in {existing} ({err.strerror}). {fix}") from None


# ---- staging ---------------------------------------------------------------------------------


def _lock(staging: Path) -> Path:
    return staging.with_name(staging.name + ".lock")


def _retired(staging: Path) -> Path:
    return staging.with_name(staging.name + ".old")


def new_staging(out: Path) -> Path:
    """An empty folder beside ``out``, and the lock file that says which process writes it."""
    owner = json.dumps({"host": socket.gethostname(), "pid": os.getpid()})
    while True:
        staging = out.with_name(f".{out.name}.staging-{secrets.token_hex(4)}")
        try:
            with open(_lock(staging), "x", encoding="utf-8") as handle:
                handle.write(owner)
        except FileExistsError:
            continue
        except BaseException:  # a full disk, say: leave no empty lock behind
            _lock(staging).unlink(missing_ok=True)
            raise
        break
    try:
        os.mkdir(staging)  # mode 0777 less the umask, like any folder the user makes
    except BaseException:
        _lock(staging).unlink(missing_ok=True)
        raise
    return staging


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    _lock(staging).unlink(missing_ok=True)


def replace(staging: Path, out: Path) -> None:
    """Move the finished staging folder to ``out``; an earlier build goes only once the new one is there."""
    if out.exists():
        retired = _retired(staging)
        out.rename(retired)
        try:
            staging.rename(out)
        except BaseException:
            retired.rename(out)
            raise
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(out)
    _lock(staging).unlink(missing_ok=True)


def _owner_alive(lock: Path) -> bool:
    try:
        owner = json.loads(lock.read_text(encoding="utf-8"))
        host, pid = owner["host"], int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        # Unreadable: being written this instant, or garbage.  Old garbage is stale.
        try:
            return time.time() - lock.stat().st_mtime < 600
        except OSError:
            return False
    if host != socket.gethostname() or pid == os.getpid():
        return True  # another machine's run, or a build in this very process: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale(out: Path) -> list[Path]:
    """Remove what killed runs left beside ``out``; returns the paths removed.

    A run killed between its two renames has already moved the previous build
    aside and not yet moved the new one in: that previous build is put back.
    Only folders whose lock file names a process that is gone are touched, and
    folders of the naming scheme of earlier releases only if they hold nothing
    but build files.
    """
    out = Path(out)
    parent = out.parent
    if not parent.is_dir():
        return []
    removed: list[Path] = []
    for lock in parent.glob(f".{glob.escape(out.name)}.staging-*.lock"):
        if _owner_alive(lock):
            continue
        staging = lock.with_name(lock.name[: -len(".lock")])
        retired = _retired(staging)
        if retired.is_dir() and not out.exists() and read_manifest(retired) is not None:
            retired.rename(out)
        for path in (staging, retired):
            if path.is_dir():
                shutil.rmtree(path)
                removed.append(path)
        lock.unlink(missing_ok=True)
    removed += _clean_legacy(out)
    return removed


def _clean_legacy(out: Path) -> list[Path]:
    """Earlier releases staged into ``.NAME.xxxxxxxx`` (tempfile.mkdtemp) and retired into ``.NAME.old``."""
    removed = []
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(?:[a-z0-9_]{{8}}|old)")
    for path in out.parent.iterdir():
        if not (pattern.fullmatch(path.name) and path.is_dir() and not path.is_symlink()):
            continue
        if not {p.name for p in path.iterdir()} <= LEGACY_ENTRIES:
            continue  # not a build's files: someone else's folder
        if path.name.endswith(".old") and not out.exists() and read_manifest(path) is not None:
            path.rename(out)
            continue
        shutil.rmtree(path)
        removed.append(path)
    return removed
