"""The output folder: only an earlier build or an empty folder is replaced, faults are one clear
message before the work starts, and what a killed run leaves behind is cleaned up by the next."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from builders import outdir
from builders.errors import BuildError
from builders.schema import ROW_SCHEMA
from builders.write import write_folder

from faults import build_killed_at, fill_up, make_read_only, refused, run, tmpfs, tree
from tiny_sources import data_dir_with_tiny_recipe, write_sources

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """``--source`` arguments for the tiny recipe, whose build takes well under a second."""
    monkeypatch.setenv("MTS_DATA_DIR", str(data_dir_with_tiny_recipe(ROOT / "data", tmp_path / "data")))
    overrides = write_sources(tmp_path / "sources")
    return [arg for name, path in overrides.items() for arg in ("--source", f"{name}={path}")]





def build_tiny(out: Path, tiny: list[str]) -> dict[str, str]:
    done = run("--version", "tiny", "--out", out, *tiny)
    assert done.exit_code == 0, done.output
    return tree(out)


# ---- 1. --out never deletes a user's folder ---------------------------------------------------


def test_a_folder_that_is_not_a_build_is_never_replaced(tmp_path, tiny):
    thesis = tmp_path / "thesis"
    (thesis / "chapters").mkdir(parents=True)
    (thesis / "chapters" / "one.tex").write_text("years of work")
    before = tree(thesis)

    refused(run("--version", "tiny", "--out", thesis, *tiny),
            f"--out {thesis} is not empty and is not a build of this tool", "Choose a new or empty folder")
    assert tree(thesis) == before


def test_the_current_folder_and_its_parents_are_refused(tmp_path, tiny, monkeypatch):
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    (work / "keep.txt").write_text("mine")
    monkeypatch.chdir(work)
    refused(run("--version", "tiny", "--out", ".", *tiny), "--out . is the current folder")
    refused(run("--version", "tiny", "--out", "..", *tiny), "--out .. is a folder that holds the current folder")
    assert (work / "keep.txt").read_text() == "mine"


def test_an_input_folder_is_never_the_output(tmp_path, tiny):
    sources = tmp_path / "mine"
    (sources / "multitaskbench").mkdir(parents=True)
    (sources / "multitaskbench" / "multitaskbench.csv").write_text(",Query,Response\n0,q,r\n")
    before = tree(sources)
    refused(run("--version", "v1", "--sources", sources, "--out", sources),
            f"--out {sources} would replace --sources {sources}, which the build reads")
    evals = tmp_path / "evals"
    evals.mkdir()
    (evals / "eval.csv").write_text("prompt\nhello\n")
    refused(run("--version", "tiny", "--decontaminate", evals / "eval.csv", "--out", evals, *tiny),
            f"would replace --decontaminate {evals / 'eval.csv'}")
    assert tree(sources) == before and (evals / "eval.csv").is_file()


def test_an_earlier_build_is_replaced_but_not_with_files_of_the_user_in_it(tmp_path, tiny):
    out = tmp_path / "dist" / "tiny"
    first = build_tiny(out, tiny)
    assert build_tiny(out, tiny) == first  # a build of this tool may be replaced (same recipe: same bytes)

    (out / "NOTES.txt").write_text("my notes")
    (out / "data" / "extra.txt").write_text("more notes")
    refused(run("--version", "tiny", "--out", out, *tiny),
            f"--out {out} is an earlier build, but it also holds NOTES.txt, data/extra.txt",
            "Move them out of the folder first")
    assert (out / "NOTES.txt").read_text() == "my notes"

    empty = tmp_path / "empty"
    empty.mkdir()
    build_tiny(empty, tiny)  # an empty folder may be used too
    assert (empty / "manifest.json").is_file()


# ---- 3. an empty dataset never replaces a good build -----------------------------------------


def test_a_header_only_upstream_csv_is_refused_and_the_good_build_stays(tmp_path, tiny):
    out = tmp_path / "dist"
    good = build_tiny(out, tiny)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",Query,Response\n")
    refused(run("--version", "v1", "--source", f"multitaskbench={header_only}", "--out", out),
            f"source 'multitaskbench': {header_only} has a header ['', 'Query', 'Response'] but no rows",
            "--source multitaskbench=PATH")
    assert tree(out) == good


def test_a_build_with_no_rows_is_not_written(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("kept")
    no_rows = pl.DataFrame(schema={**ROW_SCHEMA, "split": pl.String})
    with pytest.raises(BuildError, match="the build has no rows left"):
        write_folder(out, no_rows, "card", {"version": "x"})
    assert (out / "keep").read_text() == "kept" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ---- 5. file-system faults, found before the work starts ------------------------------------
# A missing --source would fail the build's first stage; failing with the folder's message
# instead shows the folder was checked before any work.


def test_out_under_a_file_fails_before_the_build(tmp_path):
    blocker = tmp_path / "report.pdf"
    blocker.write_text("a file where a folder is expected")
    refused(run("--version", "v1", "--source", f"multitaskbench={tmp_path / 'missing.csv'}",
                "--out", blocker / "v1"),
            f"--out {blocker / 'v1'}: {blocker} is a file, so no folder can be made under it")


def test_out_on_a_read_only_disk_fails_before_the_build(tmp_path):
    with tmpfs(tmp_path / "ro") as mount:
        make_read_only(mount)
        refused(run("--version", "v1", "--source", f"multitaskbench={tmp_path / 'missing.csv'}",
                    "--out", mount / "dist" / "v1"),
                f"cannot create anything in {mount} (Read-only file system)")


def test_a_read_only_cache_that_must_take_a_download_fails_before_the_build(tmp_path):
    with tmpfs(tmp_path / "ro") as mount:
        make_read_only(mount)
        # v1 without --sources must fetch the authors' CSV into the cache: no network is touched.
        refused(run("--version", "v1", "--cache-dir", mount, "--out", tmp_path / "v1"),
                f"the cache folder {mount}", "which must take multitaskbench/multitaskbench.csv",
                "(Read-only file system)", "Pass --cache-dir DIR")
        assert not (tmp_path / "v1").exists()


def test_a_full_disk_is_one_message_and_the_earlier_build_stays(tmp_path, tiny):
    with tmpfs(tmp_path / "disk", size="2m") as disk:
        out = disk / "dist"
        good = build_tiny(out, tiny)
        fill_up(disk, leave=8192)
        refused(run("--version", "tiny", "--out", out, "--seed", "99", *tiny),
                f"cannot write the build next to {out} (No space left on device)",
                f"an earlier build at {out} is unchanged", "Free some space")
        assert tree(out) == good
        assert sorted(p.name for p in disk.iterdir()) == ["dist", "filler"]  # no staging folder or lock left


def test_a_full_disk_while_saving_a_download_into_the_cache_is_one_message(tmp_path):
    from builders.sources import PinnedFile, Resolver, Source
    from builders.errors import SourcePinError

    content = b"id,text\n" + b"1,hello\n" * 2000
    upstream = tmp_path / "items.csv"
    upstream.write_bytes(content)
    pinned = PinnedFile(name="items.csv", sha256=hashlib.sha256(content).hexdigest(), url=upstream.as_uri())
    source = Source(name="items", title="t", upstream="u", homepage="h", citation="c", license="MIT",
                    version="1", parser="p", role="harmful", files=(pinned,))
    with tmpfs(tmp_path / "cache", size="64k") as cache:
        fill_up(cache)
        with Resolver(cache_dir=cache) as resolver, pytest.raises(SourcePinError) as caught:
            resolver.resolve(source)
        assert f"cannot save items.csv into the cache folder {cache} (No space left on device)" in str(caught.value)
        assert "Pass --cache-dir DIR" in str(caught.value)
        assert not list(cache.rglob("*.part"))


# ---- 8. a build killed during the write ------------------------------------------------------


def _env(tiny_data: Path) -> dict[str, str]:
    return {"MTS_DATA_DIR": str(tiny_data), "MTS_CACHE_DIR": os.environ["MTS_CACHE_DIR"]}


def test_a_build_killed_while_writing_leaves_the_old_build_and_the_next_run_cleans_up(tmp_path, tiny):
    out = tmp_path / "dist"
    good = build_tiny(out, tiny)
    killed = build_killed_at("open", r"\.staging-[0-9a-f]{8}/data/.*\.parquet$",
                             ["--version", "tiny", "--out", str(out), "--seed", "99", "--quiet", *tiny],
                             _env(tmp_path / "data"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = sorted(p.name for p in tmp_path.glob(".dist.*"))
    assert len(left) == 2 and left[1] == left[0] + ".lock"  # the fault is real: half a build lies beside
    assert tree(out) == good

    build_tiny(out, tiny)
    assert not list(tmp_path.glob(".dist.*"))


def test_a_build_killed_between_its_two_moves_gets_the_old_build_back(tmp_path, tiny):
    out = tmp_path / "dist"
    good = build_tiny(out, tiny)
    killed = build_killed_at("os.rename", r"\.staging-[0-9a-f]{8}$",
                             ["--version", "tiny", "--out", str(out), "--seed", "99", "--quiet", *tiny],
                             _env(tmp_path / "data"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not out.exists()  # moved aside, the new one not yet in place

    # Even a run that then fails on a bad input puts the previous build back first.
    refused(run("--version", "tiny", "--out", out, "--decontaminate", tmp_path / "missing.csv", *tiny),
            "no such file")
    assert tree(out) == good and not list(tmp_path.glob(".dist.*"))


def test_staging_of_a_live_build_and_folders_of_the_user_are_left_alone(tmp_path):
    out = tmp_path / "dist"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / ".dist.staging-0000live"
        (live / "data").mkdir(parents=True)
        (tmp_path / ".dist.staging-0000live.lock").write_text(json.dumps(
            {"host": socket.gethostname(), "pid": sleeper.pid}))
        legacy = tmp_path / ".dist.k3j5_x9q"  # left by an earlier release, which had no lock files
        (legacy / "data").mkdir(parents=True)
        (legacy / "README.md").write_text("half a card")
        users = tmp_path / ".dist.mynotes"
        users.mkdir()
        (users / "todo.txt").write_text("mine")

        assert outdir.clean_stale(out) == [legacy]
        assert live.is_dir() and (users / "todo.txt").is_file()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert outdir.clean_stale(out) == [live]  # its process is gone now
    assert not (tmp_path / ".dist.staging-0000live.lock").exists()


# ---- 13. folder modes follow the umask -------------------------------------------------------


@pytest.mark.parametrize("umask, folder_mode, file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_output_folders_follow_the_umask(tmp_path, tiny, umask, folder_mode, file_mode):
    previous = os.umask(umask)
    try:
        build_tiny(tmp_path / "out", tiny)
    finally:
        os.umask(previous)
    out = tmp_path / "out"
    assert stat.S_IMODE(out.stat().st_mode) == folder_mode
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_dir()} == {folder_mode}
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()} == {file_mode}
