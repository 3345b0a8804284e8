"""Real faults for the reliability tests: small tmpfs mounts, and a build that kills itself.

The tests run as root, and root ignores permission bits, so ``chmod`` cannot make a
folder read-only for them (``os.access`` even says root may write).  A tmpfs mounted
read-only refuses root too, with EROFS, as a read-only disk does; a tmpfs with a size
limit, filled up, fails writes with ENOSPC like a full disk.  Mounting needs root with
CAP_SYS_ADMIN; where the kernel refuses, those tests are skipped and say why.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "4m"):
    """A fresh tmpfs of ``size`` mounted at ``path`` for the duration of the block."""
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command: the read-only and full-disk faults need a tmpfs mount")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"the kernel refused a tmpfs mount ({done.stderr.strip() or 'mount failed'}); "
                    "this fault needs root with CAP_SYS_ADMIN")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def make_read_only(mount_point: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)


def fill_up(folder: Path, leave: int = 0) -> None:
    """Fill the file system that holds ``folder`` until about ``leave`` bytes are free."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(filler.stat().st_size - leave, 0))


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with its sha256: to show nothing changed."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# A build that SIGKILLs itself the moment it reaches a given step.  Python's audit hooks see
# every open() and os.rename() with its path, so the kill lands at an exact point of the write
# without any test hook in the code; SIGKILL cannot be caught, so no except, finally or atexit
# of the build runs after it, exactly as with `kill -9` from outside.
KILLED_BUILD = textwrap.dedent("""
    import os, re, signal, sys

    event_name, pattern, args = sys.argv[1], re.compile(sys.argv[2]), sys.argv[3:]

    def kill_at(event, event_args):
        if event == event_name and event_args and isinstance(event_args[0], (str, bytes, os.PathLike)):
            if pattern.search(os.fsdecode(event_args[0])):
                os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(kill_at)
    from builders.cli import build_dataset
    build_dataset(args, prog_name="build-dataset")
""")


def build_killed_at(event: str, pattern: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILLED_BUILD, event, pattern, *args], capture_output=True,
                          text=True, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=120)


def run(*args):
    """build-dataset with these options, quietly, through Click's runner."""
    from click.testing import CliRunner

    from builders.cli import build_dataset

    return CliRunner().invoke(build_dataset, [*map(str, args), "--quiet"])


def refused(result, *phrases: str, code: int = 1) -> str:
    """One message on stderr, the given exit status, no traceback; returns the message."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr
    return result.stderr
