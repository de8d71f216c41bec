"""What many tests share: the CLI runner that refuses tracebacks, configs pointed at a local
server, and cassette import with the shipped sources."""

from __future__ import annotations

import subprocess
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from etl import PipelineConfig
from etl.cli.cli import app
from etl.declared.mappings import load_mappings
from etl.declared.sources import Sources
from etl.http.cassettes import import_cassettes

runner = CliRunner()


def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run ``etl ARGS``; whatever the exit code, no traceback may reach the user."""
    result = runner.invoke(app, list(args), input=input, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("".join(traceback.format_exception(result.exception)))
    assert "Traceback" not in result.output
    return result


def config_dict(server: Any, only: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A config (as in a file, paths relative to the work dir) whose sources point at ``server``;
    with ``only``, every other source is off. No retries unless asked."""
    return {
        "template_path": "templates/template.json",
        "cache_path": "store.sqlite",
        "output_dir": "out",
        "max_retries": 0,
        "sources": server.sources(only=only),
        **extra,
    }


def config_for(tmp_path: Path, server: Any, models: list | None = None, only: list[str] | None = None, **extra: Any):
    """The same as a PipelineConfig, paths under ``tmp_path``."""
    config = PipelineConfig.from_dict(config_dict(server, only, **extra), "test", base_dir=tmp_path)
    if models is not None:
        config.models = models
    return config


def import_into(paths: list[Path], store: Path, ttl_hours: float = 24) -> dict[str, int]:
    """``etl cache import`` with the shipped sources, as the CLI does it."""
    return import_cassettes(paths, store, ttl_hours, Sources(load_mappings(), PipelineConfig()))


def errors(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error: ")]


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` read-only even for root (chattr +i), or the test is skipped."""
    try:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make a file read-only for root here (chattr +i: {exc}); root ignores file modes")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
