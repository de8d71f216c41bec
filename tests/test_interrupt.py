"""A run killed mid-way leaves no partial output and no corrupt store; the re-run resumes."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from itertools import count

import pytest
import yaml
from replay import CORE, ReplayServer

#: the test signals the run once this many Hugging Face model requests have reached the server
SIGNAL_AFTER = 8


def _slow_hf(signalled: threading.Event):
    """Slow Hugging Face answers. From the request after SIGNAL_AFTER on, each waits until the test
    has sent its signal: however long a busy machine starves the test, the run cannot finish first."""
    seen = count(1)

    def answer(key: str):
        parts = key.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) == 4:
            if next(seen) > SIGNAL_AFTER:
                signalled.wait(30)
            return _hf_answer(parts)
        if len(parts) == 5 and parts[2:] == ["resolve", "main", "config.json"]:
            return _hf_answer(parts)
        return None

    return answer


def _hf_answer(parts: list[str]):
    time.sleep(0.15)
    if parts[0] == "api":
        body = {"id": f"{parts[2]}/{parts[3]}", "downloads": 100, "likes": 5, "createdAt": "2025-01-01T00:00:00Z"}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
    return 200, {"Content-Type": "application/json"}, b'{"model_type": "llama"}'


@contextmanager
def _sigint_not_ignored():
    """Children started inside get SIGINT at its default, as a terminal's foreground command does.
    pytest launched as a background job (``pytest &`` in a script) ignores SIGINT, its children
    inherit that, and Python then never turns SIGINT into KeyboardInterrupt: the signal this test
    sends would be ignored by request of the environment, not lost by etl. A handler (unlike
    SIG_IGN) is reset to the default on exec. Not preexec_fn: unsafe with the server's threads."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is not None:  # None: set outside Python, nothing to restore
            signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_killed_run_leaves_nothing_partial_and_the_rerun_sends_fewer_requests(workdir, sig):
    with ReplayServer(["openrouter_models.yaml", "lmarena_rows.yaml"]) as server:
        signalled = threading.Event()
        server.dynamic.append(_slow_hf(signalled))
        config = {
            "template_path": "templates/template.json",
            "cache_path": "store.sqlite",
            "output_dir": "out",
            "sources": server.sources(only=CORE),
            "models": [{"name": f"M{i}", "hf_id": f"org/m{i}"} for i in range(30)],
        }
        (workdir / "c.yaml").write_text(yaml.safe_dump(config))
        cmd = [sys.executable, "-m", "etl", "run", "-c", "c.yaml"]
        with _sigint_not_ignored():
            proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while server.count("/api/models/") < SIGNAL_AFTER and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        signalled.set()
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted: no partial file was written; a re-run resumes from the cache" in err
        assert "Traceback" not in err
        assert not (workdir / "out").exists() or not any((workdir / "out").iterdir())
        with sqlite3.connect(workdir / "store.sqlite") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        first = len(server.log)
        cold = 1 + 3 + 30 + 30  # OpenRouter, LMArena pages, two per-model sources
        assert first < cold
        rerun = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=60)
        assert rerun.returncode == 0, rerun.stderr
        assert len(list((workdir / "out").glob("*_filled.json"))) == 30
        assert len(server.log) - first < cold  # resumed: what was cached is not fetched again
        # over both runs every response was fetched once, but for at most one request per per-model
        # worker that was on the wire when the signal came (the grace may not cover it on a busy machine)
        twice = [path for path, n in Counter(r["path"] for r in server.log).items() if n > 1]
        assert len(twice) <= 2 and all(p.startswith(("/api/models/", "/org/")) for p in twice), twice
        assert len(server.log) == cold + len(twice)


class _InterruptedImport:
    """A meta path finder that raises KeyboardInterrupt for one module: Ctrl-C while it loads."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name:
            raise KeyboardInterrupt
        return None


def test_ctrl_c_while_the_command_loads_exits_130_in_one_line(monkeypatch, capsys):
    """The `etl` entry point (etl:main) imports nothing heavy before it guards the import of the
    command itself: a Ctrl-C in that second says what every interrupt says, without a traceback."""
    import etl

    monkeypatch.delitem(sys.modules, "etl.cli.cli")
    monkeypatch.setattr(sys, "meta_path", [_InterruptedImport("etl.cli.cli"), *sys.meta_path])
    with pytest.raises(SystemExit) as exited:
        etl.main()
    assert exited.value.code == 130
    assert capsys.readouterr().err == "interrupted: no partial file was written; a re-run resumes from the cache\n"


def test_the_package_loads_nothing_heavy_until_a_name_is_used():
    """`import etl` (what the entry point does first) loads neither the CLI nor the pipeline."""
    code = "import sys, etl; print(sorted(m for m in sys.modules if m.startswith('etl')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['etl', 'etl.errors']"
