"""Shared fixtures. The network is blocked: only loopback connections are allowed in any test."""

from __future__ import annotations

import inspect
import os
import shutil
import socket
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from helpers import import_into
from replay import CASSETTES, ReplayServer

from etl.declared.mappings import load_mappings
from etl.declared.per_source import declared_settings
from etl.http.fetch import Fetcher, FetchSettings
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


#: what costs real time, measured with ``--durations=0``: the fixtures that build a store, the example
#: config, a working folder for CLI runs or a local server, and the calls that start a server, a
#: subprocess, the CLI, a pipeline, hypothesis or read the recorded cassettes. A test reaching none of
#: them (through its own code, the module's helpers and its fixtures) and not `slow` is `unit`:
#: ``python -m pytest -m unit`` is the tier to run while editing.
HEAVY_FIXTURES = frozenset({"warm_store", "example_config", "workdir", "server", "tls_server", "models_dir"})
HEAVY_NAMES = frozenset(
    {"ReplayServer", "subprocess", "cli", "Pipeline", "FilesystemPersister", "import_into", "CASSETTES"}
)


def _reaches(code, scope: dict, seen: set) -> set[str]:
    """The global names ``code`` uses, through nested code and the functions of ``scope`` it calls."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _reaches(const, scope, seen)
    for name in list(names):
        func = scope.get(name)
        func = inspect.unwrap(func) if callable(func) else func  # a functools.cache helper is a helper too
        code_of = getattr(func, "__code__", None)
        if code_of is not None and name not in seen and str(code_of.co_filename).startswith(str(ROOT / "tests")):
            seen.add(name)
            names |= _reaches(code_of, getattr(func, "__globals__", scope), seen)
    return names


def _heavy(item) -> bool:
    if item.get_closest_marker("slow") or HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    funcs = [getattr(item, "function", None)]
    infos = getattr(item, "_fixtureinfo", None)
    for defs in infos.name2fixturedefs.values() if infos else ():
        funcs += [d.func for d in defs]
    if getattr(funcs[0], "is_hypothesis_test", False):
        return True  # a property test runs its body dozens of times
    names: set[str] = set()
    for func in funcs:
        if func is not None and hasattr(func, "__code__"):
            names |= _reaches(func.__code__, func.__globals__, set())
    return bool(HEAVY_NAMES & names)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not _heavy(item):
            item.add_marker(pytest.mark.unit)


@pytest.fixture
def models_dir(workdir, warm_store):
    """A Models/ folder of three template copies (models the recorded sources know)
    and a private copy of the warm store: (folder, store)."""
    store = workdir / "etl.sqlite"
    shutil.copy(warm_store, store)
    folder = workdir / "Models"
    folder.mkdir()
    template = (EXAMPLES / "templates" / "template.json").read_text()
    for name in ("Claude 3.5 Haiku", "GLM-4.6", "gpt-oss-120b"):
        (folder / f"{name}.json").write_text(template)
    return folder, store
