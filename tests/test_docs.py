"""The README shows real help text and the same set-up commands CI runs."""

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders.cli import build_dataset, evaluate_dataset, mix_dataset, publish_dataset

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command, name", [(build_dataset, "build-dataset"), (publish_dataset, "publish-dataset"),
                                           (evaluate_dataset, "evaluate-dataset"), (mix_dataset, "mix-dataset")])
def test_readme_shows_the_current_help(command, name):
    result = CliRunner().invoke(command, ["-h"], prog_name=name, terminal_width=100)
    assert result.exit_code == 0
    assert f"$ {name} -h\n{result.output}```" in README, f"README's {name} -h block is out of date"


def test_ci_runs_the_readme_set_up_commands():
    commands = re.findall(r"```console\n(pip install [^\n]+)\n```", README)
    assert commands == ["pip install . && build-dataset --version v2", "pip install '.[test]' && python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q . && build-dataset --version v2" in ci
    assert "pip install -q '.[test]' && python -m pytest" in ci


def test_every_console_script_is_a_command_of_python_m_builders():
    import configparser

    from builders.__main__ import main

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = [line.split("=")[0].strip() for line in config["options.entry_points"]["console_scripts"].split("\n")
               if line.strip()]
    assert scripts == ["build-dataset", "publish-dataset", "evaluate-dataset", "mix-dataset"]
    assert sorted(main.commands) == sorted(scripts)
