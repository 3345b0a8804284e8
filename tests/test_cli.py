import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders.cli import build_dataset

from tiny_sources import data_dir_with_tiny_recipe, write_sources

ROOT = Path(__file__).resolve().parent.parent


def test_help_lists_every_option():
    result = CliRunner().invoke(build_dataset, ["-h"])
    assert result.exit_code == 0
    for option in ("--version", "--out", "--sources", "--source", "--seed", "--json", "--include-upstream",
                   "--decontaminate", "--push-to-hub", "Example:"):
        assert option in result.output


def test_unknown_version_lists_the_known_ones():
    result = CliRunner().invoke(build_dataset, ["--version", "v9"])
    assert result.exit_code == 2
    assert "unknown version 'v9'" in result.output and "v1, v2" in result.output


def test_checksum_mismatch_exits_1_with_the_fix(tmp_path):
    sources = tmp_path / "sources" / "multitaskbench"
    sources.mkdir(parents=True)
    (sources / "multitaskbench.csv").write_text(",Query,Response\n0,q,r\n")
    result = CliRunner().invoke(build_dataset, ["--version", "v1", "--sources", str(tmp_path / "sources"),
                                                "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 1
    assert "sha256" in result.output and "--source multitaskbench=PATH" in result.output
    assert not (tmp_path / "out").exists()


def test_malformed_source_override_exits_1(tmp_path):
    result = CliRunner().invoke(build_dataset, ["--version", "v1", "--source", "multitaskbench", "--quiet"])
    assert result.exit_code == 1 and "NAME=PATH" in result.output


@pytest.fixture
def tiny_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("MTS_DATA_DIR", str(data_dir_with_tiny_recipe(ROOT / "data", tmp_path / "data")))
    overrides = write_sources(tmp_path / "sources")
    return [arg for name, path in overrides.items() for arg in ("--source", f"{name}={path}")]


def test_json_summary_of_a_build(tmp_path, tiny_cli):
    out = tmp_path / "out"
    result = CliRunner().invoke(build_dataset, ["--version", "tiny", "--out", str(out), "--json", "--quiet",
                                                *tiny_cli], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["version"] == "tiny" and Path(summary["out"]) == out
    manifest = json.loads((out / "manifest.json").read_text())
    assert summary["rows"] == manifest["rows"]
    assert {s["stage"] for s in summary["stages"]} >= {"sources", "render", "respond", "dedup", "write"}


def test_table_summary_of_a_build(tmp_path, tiny_cli):
    result = CliRunner().invoke(build_dataset, ["--version", "tiny", "--out", str(tmp_path / "out"), "--quiet",
                                                *tiny_cli], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("built tiny into")
    header = next(line for line in lines if line.startswith("config"))
    assert header.split() == ["config", "train", "validation", "test", "total"]
    assert any(line.startswith("default") for line in lines)
