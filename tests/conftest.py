"""Shared fixtures. The network is blocked: only loopback connections are allowed in any test."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from helpers import import_into
from replay import CASSETTES, ReplayServer

from etl.fetch import Fetcher, FetchSettings
from etl.mappings import load_mappings
from etl.per_source import declared_settings
from etl.settings import STORE_ENV

# never the real user cache folder, not even from a session fixture or a subprocess
os.environ[STORE_ENV] = str(Path(tempfile.mkdtemp(prefix="etl-store-")) / "etl.sqlite")

ROOT = Path(__file__).resolve().parent.parent
#: lines tests want shown at the end of the run (the reference set's coverage)
REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("coverage of the reference set (fields filled / fields some source publishes for it)")
        for line in REPORT:
            terminalreporter.write_line(line)


EXAMPLES = ROOT / "examples"
ALL_CASSETTES = sorted(CASSETTES.glob("*.yaml"))
_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo
LOCAL = ("127.0.0.1", "::1", "localhost")


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in LOCAL and not host.startswith("/"):
        raise OSError(f"network blocked in tests: attempted connection to {address!r}")
    return _real_connect(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in LOCAL and not str(host).startswith("127."):  # not even a DNS query leaves the machine
        raise socket.gaierror(f"network blocked in tests: attempted lookup of {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    for var in {env for setting in declared_settings().values() for env in setting.envs}:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _own_store(tmp_path, monkeypatch):
    """Each test's default store is its own (where the user's cache folder would be)."""
    monkeypatch.setenv(STORE_ENV, str(tmp_path / ".etl" / "etl.sqlite"))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A clean working directory (no stray .env), with the example template copied in."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "template.json").write_text((EXAMPLES / "templates" / "template.json").read_text())
    return tmp_path


@pytest.fixture(scope="session")
def warm_store(tmp_path_factory):
    """A store with every cassette imported (read-only use: copy it before writing)."""
    path = tmp_path_factory.mktemp("store") / "etl.sqlite"
    import_into(ALL_CASSETTES, path)
    return path


@pytest.fixture
def example_config(workdir, warm_store):
    """The README example config, pointed at a private copy of the warm store."""
    store = workdir / "etl.sqlite"
    store.write_bytes(warm_store.read_bytes())
    data = yaml.safe_load((EXAMPLES / "config.yaml").read_text())
    (workdir / "values.yaml").write_text((EXAMPLES / "values.yaml").read_text())
    data["cache_path"] = str(store)
    data["output_dir"] = str(workdir / "out")
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def replay():
    with ReplayServer() as server:
        yield server


@pytest.fixture
def server():
    with ReplayServer() as srv:
        yield srv


@pytest.fixture
def make(tmp_path):
    """``make(server, name, path, retries, key, sleep, **FetchSettings)`` -> (fetcher, source, waits):
    a Fetcher for one shipped source pointed at ``server``; the waits it would sleep are recorded."""
    sources = load_mappings().sources
    made: list[Fetcher] = []

    def build(server, name="openrouter", path="/api/v1/models", retries=0, key=None, **kwargs):
        waits: list[float] = []
        sleep = kwargs.pop("sleep", waits.append)
        opts = FetchSettings(
            tmp_path / "s.sqlite",
            keys={name: key} if key else {},
            rate_limits={name: None},
            max_retries=retries,
            auth_headers=("x-api-key", "Authorization"),
            **{"timeout": 5.0, "max_wait": 60.0, **kwargs},
        )
        fetcher = Fetcher(opts, sleep=sleep)
        made.append(fetcher)
        return fetcher, replace(sources[name], url=server.url + path, pagination=None, params={}), waits

    yield build
    for fetcher in made:
        fetcher.close()
