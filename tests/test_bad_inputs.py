"""Bad input files and names: one message naming the input and the fix, exit 1, no traceback,
and an earlier build left as it was."""

from __future__ import annotations

import codecs
import hashlib
import json
from pathlib import Path

import pytest

from builders.errors import SourcePinError
from builders.recipe import version_problem
from builders.sources import PinnedFile, Resolver, Source

from faults import refused, run, tree
from tiny_sources import data_dir_with_tiny_recipe, write_sources

ROOT = Path(__file__).resolve().parent.parent
HEADER = ",Query,Response\n"





@pytest.fixture
def good_build(tmp_path, monkeypatch) -> Path:
    """An earlier build (of the tiny recipe) that a failed build must leave as it is."""
    monkeypatch.setenv("MTS_DATA_DIR", str(data_dir_with_tiny_recipe(ROOT / "data", tmp_path / "data")))
    out = tmp_path / "dist"
    assert run("--version", "tiny", "--out", out, *_tiny_sources(tmp_path)).exit_code == 0
    return out


# ---- 4. unreadable upstream CSVs -------------------------------------------------------------

UNREADABLE = {
    "latin-1": ((HEADER + "0,Traduisez : « où est le café ? »,Désolé\n").encode("latin-1"),
                "is not UTF-8 (byte 0xab on line 2)", "iconv -f LATIN1 -t UTF-8"),
    "utf-16": ((HEADER + "0,q,r\n").encode("utf-16"), "is UTF-16 text, not UTF-8", "iconv -f UTF-16 -t UTF-8"),
    "utf-16 without BOM": ((HEADER + "0,q,r\n").encode("utf-16-le"), "is UTF-16 text", "iconv"),
    "unterminated quote": ((HEADER + '0,"never closed,r\n1,q,r\n').encode(), "cannot be read as CSV",
                           'A double quote (") is opened and never closed'),
    "empty": (b"", "is empty", "--source multitaskbench=PATH"),
    "blank lines": (b"\n\n", "is empty", "--source multitaskbench=PATH"),
    "binary": (bytes(range(256)) * 8, "holds binary data (NUL bytes), not CSV text", "right file"),
}


@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_an_unreadable_upstream_csv_is_one_message(tmp_path, good_build, kind):
    content, what, fix = UNREADABLE[kind]
    csv = tmp_path / "release.csv"
    csv.write_bytes(content)
    before = tree(good_build)
    refused(run("--version", "v1", "--source", f"multitaskbench={csv}", "--out", good_build),
            f"Error: source 'multitaskbench': {csv} {what}", fix)
    assert tree(good_build) == before


def test_a_utf8_bom_is_not_a_fault(tmp_path):
    from builders.csvfile import read_csv

    csv = tmp_path / "bom.csv"
    csv.write_bytes(codecs.BOM_UTF8 + (HEADER + "0,q,r\n").encode())
    assert read_csv(csv, "test").columns == ["", "Query", "Response"]


# ---- 7. a damaged cached source is fetched again ----------------------------------------------


def _one_file_source(tmp_path: Path, url: str, content: bytes) -> Source:
    pinned = PinnedFile(name="items.csv", sha256=hashlib.sha256(content).hexdigest(), url=url)
    return Source(name="items", title="t", upstream="u", homepage="h", citation="c", license="MIT",
                  version="1", parser="p", role="harmful", files=(pinned,))


def test_a_damaged_cached_copy_is_removed_and_fetched_again(tmp_path, capsys):
    good = b"id,text\n1,hello\n"
    upstream = tmp_path / "upstream" / "items.csv"  # a file:// URL: the real fetch path, no network
    upstream.parent.mkdir()
    upstream.write_bytes(good)
    source = _one_file_source(tmp_path, upstream.as_uri(), good)
    cached = tmp_path / "cache" / "items" / "items.csv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(good[:-3])  # cut short, as by an interrupted copy

    with Resolver(cache_dir=tmp_path / "cache") as resolver:
        resolved = resolver.resolve(source)
    assert resolved.files["items.csv"] == cached and cached.read_bytes() == good
    assert resolved.origin == "download"
    assert f"the cached copy {cached} does not match its pinned sha256; removing it" in capsys.readouterr().err


def test_a_damaged_cached_copy_that_cannot_be_fetched_says_how_to_provide_it(tmp_path):
    source = _one_file_source(tmp_path, (tmp_path / "gone.csv").as_uri(), b"id,text\n1,hello\n")
    cached = tmp_path / "cache" / "items" / "items.csv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"damaged")
    with Resolver(cache_dir=tmp_path / "cache") as resolver, pytest.raises(SourcePinError) as caught:
        resolver.resolve(source)
    assert "source 'items': cannot obtain items.csv" in str(caught.value)
    assert "put the file at DIR/items/items.csv and pass --sources DIR" in str(caught.value)
    assert "extract" not in str(caught.value) and not cached.exists()


# ---- 12. versions that cannot be tags --------------------------------------------------------


@pytest.mark.parametrize("name, why", [
    ("main", "names a branch or a ref on the Hub"), ("HEAD", "names a branch or a ref"),
    ("v2..1", "is not a valid git tag name"), ("v2.", "is not a valid git tag name"),
    ("v2.lock", "is not a valid git tag name"), ("-v2", "starting with a letter or digit"),
    ("v 2", "letters, digits"), ("a" * 40, "looks like a commit id"), ("", "letters, digits"),
])
def test_a_version_that_cannot_be_a_tag_is_named_and_explained(name, why):
    assert why in version_problem(name)


@pytest.mark.parametrize("name", ["v1", "v2", "v2.1", "2025-01", "tiny", "v10_rc1"])
def test_ordinary_versions_are_fine(name):
    assert version_problem(name) is None


def test_a_recipe_named_main_is_refused_before_the_build(tmp_path, monkeypatch):
    data = data_dir_with_tiny_recipe(ROOT / "data", tmp_path / "data")
    (data / "recipes" / "main.toml").write_text((data / "recipes" / "tiny.toml").read_text().replace(
        'version = "tiny"', 'version = "main"'))
    monkeypatch.setenv("MTS_DATA_DIR", str(data))
    refused(run("--version", "main", "--out", tmp_path / "out"),
            "main.toml: 'main' names a branch or a ref on the Hub, not a version",
            "Rename the recipe file and its 'version' field")
    assert not (tmp_path / "out").exists()


# ---- 14. a --decontaminate file with no rows ----------------------------------------------------


@pytest.mark.parametrize("name, content", [("eval.csv", "prompt\n"), ("eval.jsonl", ""),
                                           ("eval.json", "[]")])
def test_an_evaluation_set_without_rows_is_refused(tmp_path, good_build, name, content):
    evals = tmp_path / name
    evals.write_text(content)
    before = tree(good_build)
    stderr = refused(run("--version", "tiny", "--out", good_build, "--decontaminate", evals,
                         *_tiny_sources(tmp_path)), "evaluation set", str(evals))
    assert "so it would remove nothing" in stderr or "It would remove nothing" in stderr
    assert tree(good_build) == before


def _tiny_sources(tmp_path: Path) -> list[str]:
    overrides = write_sources(tmp_path / "sources")
    return [arg for name, path in overrides.items() for arg in ("--source", f"{name}={path}")]


def test_the_manifest_names_evaluation_files_without_their_path(tmp_path, good_build):
    evals = tmp_path / "private" / "held-out.csv"
    evals.parent.mkdir()
    evals.write_text("prompt\nsomething unrelated to every seed\n")
    done = run("--version", "tiny", "--out", good_build, "--decontaminate", f"{evals}:prompt", *_tiny_sources(tmp_path))
    assert done.exit_code == 0, done.output
    manifest = json.loads((good_build / "manifest.json").read_text())
    assert manifest["decontaminate"] == [{"file": "held-out.csv", "column": "prompt",
                                          "sha256": hashlib.sha256(evals.read_bytes()).hexdigest()}]
    assert str(tmp_path) not in (good_build / "manifest.json").read_text()
