"""Upstream bodies built to hurt (etl/http/formats.py): bombs, deep nesting, huge integers, duplicate
keys and members, bodies worth gigabytes once parsed. Each is one source's failure in one line,
never cached (asked again, the server is asked again; offline, the failure is told again), and no
run prints a traceback or passes ~300 MB (measured in a subprocess with resource.getrusage)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers import cli, config_dict
from replay import ReplayServer

from etl.errors import SourceError

AIDER = "/Aider-AI/aider/main/aider/website/_data/polyglot_leaderboard.yml"
LLM_STATS = "/JonathanChavezTamales/llm-leaderboard/tar.gz/24a9ccf7402306f0c3e237213538e4537d64ecc2"
MODEL_DIR = "repo-24a9/data/organizations/acme/models/m"

#: ten levels of ten aliases each: 10^10 nodes once expanded, 1 KB written
LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)


def tar_gz(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def deep_json(levels: int) -> bytes:
    return b'{"name": "m", "x": ' + b"[" * levels + b"]" * levels + b"}"


GOOD_MODEL = json.dumps({"model_id": "m", "name": "M"}).encode()

YAML_BODIES = {
    "billion-laughs": (LAUGHS.encode(), "aliases expand the document to"),
    "deep-flow": (b"[" * 100_000 + b"]" * 100_000, "nest"),
    "deep-block": (b"- " * 50_000 + b"x\n", "nest"),
    "deep-under-limit": (b"- " + b"[" * 200 + b"]" * 200 + b"\n", "nested more than 64 levels"),
    "5000-digits": (b"- {model: m, pass_rate_2: " + b"7" * 5000 + b"}\n", "4300"),
    "duplicate-key-lines": (b"- model: a\n  pass_rate_2: 1\n  model: b\n", "duplicate key 'model'"),
    "duplicate-key-flow": (b"- {model: a, model: b}\n", "duplicate key 'model'"),
    "binary": (b"- {model: !!binary aGVsbG8=}\n", "a bytes value (not a JSON type)"),
    "set": (b"- !!set {a, b}\n", "a set value (not a JSON type)"),
}
TAR_BODIES = {
    "deep-model-json": (tar_gz([(f"{MODEL_DIR}/model.json", deep_json(200_000))]), "nested too deeply"),
    "deep-benchmarks-json": (
        tar_gz([(f"{MODEL_DIR}/model.json", GOOD_MODEL), (f"{MODEL_DIR}/benchmarks.json", deep_json(200_000))]),
        "archive member repo-24a9/data/organizations/acme/models/m/benchmarks.json does not parse",
    ),
    "deep-under-recursion-limit": (tar_gz([(f"{MODEL_DIR}/model.json", deep_json(500))]), "nested too deeply"),
    "duplicate-member": (
        tar_gz([(f"{MODEL_DIR}/model.json", GOOD_MODEL), (f"{MODEL_DIR}/model.json", b'{"model_id": "evil"}')]),
        f"an archive with member '{MODEL_DIR}/model.json' twice",
    ),
    "many-values": (
        tar_gz(
            [(f"repo/data/organizations/o/models/m{i}/model.json", b"[" + b"{}," * 300_000 + b"{}]") for i in range(2)]
        ),
        "values, more than the 1,048,576 its size allows",
    ),
}


@pytest.mark.parametrize(("body", "expected"), YAML_BODIES.values(), ids=YAML_BODIES.keys())
def test_a_hostile_yaml_body_is_one_line_failure_never_cached(server, make, body, expected):
    server.route(AIDER, 200, body, {"Content-Type": "text/plain"})
    fetcher, source, _ = make(server, "aider", AIDER)
    for _ in range(2):
        with pytest.raises(SourceError) as err:
            fetcher.documents(source, source.url)
        assert expected in str(err.value)
        assert str(err.value).startswith("aider: ") and f"{server.url}{AIDER}" in str(err.value)
        assert "\n" not in str(err.value) and len(str(err.value)) < 600
    assert server.count(AIDER) == 2  # refused both times: never cached


@pytest.mark.parametrize(("body", "expected"), TAR_BODIES.values(), ids=TAR_BODIES.keys())
def test_a_hostile_archive_is_one_line_failure_never_cached(server, make, body, expected):
    server.route(LLM_STATS, 200, body, {"Content-Type": "application/x-gzip"})
    fetcher, source, _ = make(server, "llm_stats", LLM_STATS)
    for _ in range(2):
        with pytest.raises(SourceError) as err:
            fetcher.documents(source, source.url)
        assert expected in str(err.value)
        assert "\n" not in str(err.value)
    assert server.count(LLM_STATS) == 2


def test_a_listed_eval_file_nested_deep_fails_that_source_only(server, make):
    path = "/acme/m/resolve/main/.eval_results/gpqa.yaml"
    server.route(path, 200, b"- " * 60_000 + b"x\n", {"Content-Type": "text/plain"})
    fetcher, source, _ = make(server, "hf_eval_results", path)
    with pytest.raises(SourceError, match="unreadable YAML .*nest"):
        fetcher.documents(source, source.url)


def test_a_json_or_csv_body_worth_gigabytes_once_parsed_is_refused_before_parsing(server, make):
    """3 MB of ``{},`` would be 1.1M dicts; 110k records cost ~400 bytes each beyond their values;
    a 1,000-column header makes each short CSV row 1,000 cells."""
    server.route("/api/v1/models", 200, b'{"data": [' + b"{}," * 1_100_000 + b"{}]}")
    fetcher, source, _ = make(server)
    with pytest.raises(SourceError, match=r"holds about 2,200,00\d values, more than the 1,048,576 .* raise sources"):
        fetcher.documents(source, source.url)
    server.route("/api/v1/models", 200, b'{"data": [' + b"{}," * 110_000 + b"{}]}")  # within the value budget
    with pytest.raises(SourceError, match=r"holds 110,001 records, more than the 104,857 its size allows"):
        fetcher.documents(source, source.url)
    header = ",".join(f"c{i}" for i in range(1000)).encode()
    server.route("/table_2026_01_08.csv", 200, header + b"\n" + b"x\n" * 2000, {"Content-Type": "text/csv"})
    fetcher, source, _ = make(server, "livebench", "/table_2026_01_08.csv")
    with pytest.raises(SourceError, match="csv body from .* holds about 2,00.,... values"):
        fetcher.documents(source, source.url)


def test_the_value_budget_is_an_upper_bound_that_real_bodies_stay_far_below():
    """The estimate never undercounts what a parser builds, and the recorded bodies fit with room."""
    from etl.http.formats import estimate

    for body in (b'{"a": [1, 2, {"b": [3]}]}', b"[]", b'[{}, {}, "x"]'):
        values = json.loads(body)
        count, stack = 0, [values]
        while stack:
            node = stack.pop()
            count += 1
            stack += list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
        assert estimate("json", body) * 2 + 1 >= count
    recorded = Path(__file__).resolve().parent.parent / "cassettes" / "openrouter_models.yaml"
    assert estimate("json", recorded.read_bytes()) < 1_048_576 / 5


def test_a_bomb_in_a_run_is_a_source_failure_and_offline_replays_the_failure(workdir):
    """End to end: the aider bomb fails aider only (the other source still fills), nothing is
    cached, and an --offline run tells the same failure instead of blowing up again."""
    import yaml

    with ReplayServer(["lmarena_rows.yaml"]) as server:
        server.route(AIDER, 200, LAUGHS.encode(), {"Content-Type": "text/plain"})
        data = config_dict(server, only=["aider", "lmarena"], models=[{"name": "GLM-4.6"}])
        Path("c.yaml").write_text(yaml.safe_dump(data))
        online = cli("run", "-c", "c.yaml")
        asked = server.count(AIDER)
    assert online.exit_code == 1, online.output
    assert "aider: unreadable YAML from" in online.output and "aliases expand the document" in online.output
    assert asked == 1
    assert Path("out/GLM-4.6_filled.json").is_file()  # the run went on: the model was written
    offline = cli("run", "-c", "c.yaml", "--offline")
    assert offline.exit_code == 1, offline.output
    assert "aliases expand the document" in offline.output  # the recorded failure, not a re-parse


#: run in a child process: `etl run` as the CLI does it, then the child's own peak RSS. Linux keeps
#: ru_maxrss across exec (the child starts with this test process's mark), so the figure read is
#: VmHWM, the peak of the child's own address space; getrusage's is reported beside it.
RUN_AND_MEASURE = """
import json, resource, sys
from typer.testing import CliRunner
from etl.cli.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"code": result.exit_code, "traceback": "Traceback" in result.output or (
    result.exception is not None and not isinstance(result.exception, SystemExit)),
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "hwm_mb": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024}))
"""


def hostile_bodies() -> dict[str, tuple[str, bytes]]:
    bodies = {f"yaml {k}": (AIDER, body) for k, (body, _) in YAML_BODIES.items()}
    bodies |= {f"tar {k}": (LLM_STATS, body) for k, (body, _) in TAR_BODIES.items()}
    within = b"[" + b"0," * 500_000 + b"0]"  # 1M values, just within the budget
    bodies["json values within budget"] = ("/api/v1/models", b'{"data": [{"id": "x", "v": ' + within + b"}]}")
    bodies["json records within budget"] = ("/api/v1/models", b'{"data": [' + b"{}," * 100_000 + b"{}]}")
    bodies["json records over budget"] = ("/api/v1/models", b'{"data": [' + b"{}," * 110_000 + b"{}]}")
    bodies["json one 31 MiB string"] = ("/api/v1/models", b'{"data": [{"id": "' + b"x" * (31 * 2**20) + b'"}]}')
    bodies["json over the body limit"] = ("/api/v1/models", b'{"data": ["' + b"x" * (33 * 2**20) + b'"]}')
    bodies["json deep"] = ("/api/v1/models", b"[" * 100_000 + b"]" * 100_000)
    return bodies


@pytest.mark.slow
def test_no_upstream_body_makes_a_run_pass_300_mb_or_print_a_traceback(workdir):
    """The server runs here, each run in a child process: its peak RSS is the run's alone."""
    import yaml

    peaks = {}
    for name, (path, body) in hostile_bodies().items():
        with ReplayServer() as server:
            server.route(path, 200, body, {"Content-Type": "text/plain"})
            data = config_dict(server, only=["aider", "llm_stats", "openrouter"], models=[{"name": "M"}])
            Path("c.yaml").write_text(yaml.safe_dump(data))
            for mode in ([], ["--offline"]):
                done = subprocess.run(
                    [sys.executable, "-c", RUN_AND_MEASURE, "run", "-c", "c.yaml", *mode],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert done.returncode == 0, done.stderr[-3000:]
                result = json.loads(done.stdout.strip().splitlines()[-1])
                assert not result["traceback"], name
                assert result["code"] in (0, 1), (name, mode, result)
                peaks[f"{name} {' '.join(mode) or 'online'}"] = result["hwm_mb"]
                print(f"{result['hwm_mb']:6.0f} MB (getrusage {result['peak_mb']:.0f})  {name} {mode}")
    assert max(peaks.values()) < 300, peaks
