"""One kind of user error (vintix_data.errors.UserError): the CLIs print it as one line and exit 2; anything else is
a bug and must surface as a traceback, never dressed up as a one-line user error."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vintix_data.errors import UserError

TASK = "industrial-benchmark-50-v1"


def _collect(tmp_path, *extra):
    from vintix_data.cli import app

    args = [
        "collect",
        TASK,
        "--out",
        str(tmp_path / "d"),
        "--demonstrator",
        "zero",
        "--histories",
        "1",
        "--steps",
        "500",
        "--reference-episodes",
        "1",
        "--force",
        *extra,
    ]
    return CliRunner().invoke(app, args)


def test_an_internal_value_error_in_the_collector_is_a_traceback_not_a_user_error(tmp_path, monkeypatch):
    import vintix_data.collect.collector as collector

    def bug(self, *args, **kwargs):
        raise ValueError("an internal bug, not the user's")

    monkeypatch.setattr(collector.Collector, "_loop", bug)
    result = _collect(tmp_path)
    assert isinstance(result.exception, ValueError), result.output
    assert "an internal bug" in str(result.exception)
    assert result.exit_code != 2 and "error:" not in result.output  # no one-line "error: ..." for it


def test_the_same_command_reports_a_user_error_in_one_line(tmp_path):
    result = _collect(tmp_path, "--p", "0")
    assert result.exit_code == 2
    assert not isinstance(result.exception, ValueError) or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "--p must be > 0" in lines[0]


def test_every_error_class_is_a_user_error_and_keeps_its_old_base():
    from vintix_data.collect import CollectError
    from vintix_data.demonstrators import DemonstratorError
    from vintix_data.demonstrators.gate import GateError
    from vintix_data.demonstrators.train_mujoco import TrainError as DemoTrainError
    from vintix_data.domains import DomainOptionError, DomainUnavailableError
    from vintix_data.format import FormatError
    from vintix_data.hiding import HidingError
    from vintix_data.hub import HubError
    from vintix_data.legacy_h5 import ImportNotValid, LegacyH5Error
    from vintix_data.registry import RegistryError, UnknownTaskError
    from vintix_data.schedule import ScheduleError
    from vintix_model.data.arrays import DataError
    from vintix_model.evaluate.config import EvalError
    from vintix_model.evaluate.report import ResultsExistError
    from vintix_model.model.checkpoint import CheckpointError
    from vintix_model.model.config import ConfigError
    from vintix_model.train.run import TrainError

    for cls in (
        CollectError,
        DemonstratorError,
        GateError,
        DemoTrainError,
        DomainOptionError,
        FormatError,
        HidingError,
        LegacyH5Error,
        ImportNotValid,
        RegistryError,
        UnknownTaskError,
        ScheduleError,
        ConfigError,
        DataError,
        EvalError,
        CheckpointError,
        TrainError,
    ):
        assert issubclass(cls, UserError) and issubclass(cls, ValueError), cls
    assert issubclass(DomainUnavailableError, UserError) and issubclass(DomainUnavailableError, RuntimeError)
    assert issubclass(HubError, UserError) and issubclass(ResultsExistError, FileExistsError)


def test_fail_escapes_markup(capsys):
    import typer

    from vintix_data.cli.output import fail

    with pytest.raises(typer.Exit) as exc:
        fail("Box(low=[0, 1], high=[red]x[/red])")
    assert exc.value.exit_code == 2
    assert "Box(low=[0, 1], high=[red]x[/red])" in capsys.readouterr().err
