"""Every command is documented: in the README, and with an example in its --help."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)


def test_the_cli_has_the_designed_commands() -> None:
    designed = {
        "validate",
        "plan",
        "apply",
        "import",
        "next",
        "status",
        "trigger",
        "runs",
        "run",
        "sandbox",
        "schema",
        "init",
    }
    assert designed <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_the_readme(name: str) -> None:
    assert re.search(rf"`schedctl {name}[ `]", README), (
        f"README does not document `schedctl {name}`"
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_an_example(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`schedctl {name} --help` shows no example"


def test_readme_has_exactly_two_setup_commands() -> None:
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", setup, re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert commands == [
        "pip install -e . && schedctl apply examples/ --auto-approve",
        "pip install -e '.[test]' && pytest",
    ]


def test_ci_runs_the_readmes_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in script and "pytest" in script
