"""The generic CLI machinery: config files filling an options dataclass, and UserError handling.

A toy command built here (not a real task) keeps these tests independent of any model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import pytest
import typer
from typer.testing import CliRunner

from rnnkit.cli.app import UserErrorGroup
from rnnkit.cli.options import ConfigOption, options_from_context
from rnnkit.errors import UserError


@dataclasses.dataclass
class ToyOptions:
    data: Path | None = None
    hidden: int = 512
    lr: float = 0.002
    cell: Literal["lstm", "gru"] = "lstm"
    tie_weights: bool = True
    time_limit: str | None = None


DEFAULTS = ToyOptions()
received: list[ToyOptions] = []


def build_app(previous: ToyOptions | None = None) -> typer.Typer:
    """A one-command app whose command records the options it was given."""
    app = typer.Typer(cls=UserErrorGroup)

    @app.command()
    def toy(
        ctx: typer.Context,
        data: Annotated[Path | None, typer.Option()] = DEFAULTS.data,
        hidden: Annotated[int, typer.Option()] = DEFAULTS.hidden,
        lr: Annotated[float, typer.Option()] = DEFAULTS.lr,
        cell: Annotated[Literal["lstm", "gru"], typer.Option()] = DEFAULTS.cell,
        tie_weights: Annotated[bool, typer.Option()] = DEFAULTS.tie_weights,
        time_limit: Annotated[str | None, typer.Option()] = DEFAULTS.time_limit,
        config: ConfigOption = None,
    ) -> None:
        options = options_from_context(ToyOptions, ctx, previous)
        if options.hidden < 0:
            raise UserError("--hidden must be positive; give a size such as 256.")
        received.append(options)

    @app.command()
    def other() -> None:  # a second command, so typer keeps "toy" as a subcommand name
        pass

    return app


def invoke(args: list[str], previous: ToyOptions | None = None):
    received.clear()
    return CliRunner().invoke(build_app(previous), ["toy", *args])


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "options.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_the_dataclass():
    result = invoke([])
    assert result.exit_code == 0, result.output
    assert received == [ToyOptions()]


def test_config_file_fills_options_and_command_line_wins(tmp_path):
    config = write_toml(
        tmp_path,
        'data = "corpus.txt"\nhidden = 64\nlr = 0.01\ncell = "gru"\ntie-weights = false\n'
        'time_limit = "10m"\n',
    )
    result = invoke(["--hidden", "32", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert received == [
        ToyOptions(
            data=Path("corpus.txt"),
            hidden=32,
            lr=0.01,
            cell="gru",
            tie_weights=False,
            time_limit="10m",
        )
    ]


def test_previous_options_replace_defaults_but_not_choices(tmp_path):
    previous = ToyOptions(data=Path("old.txt"), hidden=64, cell="gru", lr=0.5)
    config = write_toml(tmp_path, "lr = 0.25\n")
    result = invoke(["--config", str(config), "--cell", "lstm"], previous=previous)
    assert result.exit_code == 0, result.output
    assert received == [ToyOptions(data=Path("old.txt"), hidden=64, cell="lstm", lr=0.25)]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("hiden = 3\n", "unknown option 'hiden'; did you mean 'hidden'?"),
        ("zzz = 3\n", "unknown option 'zzz'; run the command with --help"),
        ('hidden = "many"\n', "invalid value 'many' for 'hidden'"),
        ('cell = "transformer"\n', "invalid value 'transformer' for 'cell'"),
        ("[model]\nhidden = 3\n", "has a table [model]"),
        ("hidden = \n", "is not valid TOML"),
        ("config = 'x.toml'\n", "unknown option 'config'"),
    ],
)
def test_bad_config_files_are_user_errors(tmp_path, toml, expected):
    config = write_toml(tmp_path, toml)
    result = invoke(["--config", str(config)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: config file {config} ")
    assert expected in lines[0]
    assert received == []


def test_missing_config_file_is_a_user_error(tmp_path):
    result = invoke(["--config", str(tmp_path / "absent.toml")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: config file {tmp_path / 'absent.toml'} does not exist; "
        "check the path given to --config."
    )


def test_user_error_becomes_one_line_and_exit_code_2():
    result = invoke(["--hidden", "-1"])
    assert result.exit_code == 2
    assert result.stderr == "error: --hidden must be positive; give a size such as 256.\n"
    assert "Traceback" not in result.output
