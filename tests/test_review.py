"""Review of the 2026-11-28 changes: each test is a defect found by an adversarial pass (local
servers on 127.0.0.1 and the bundled cassettes only). They fail on the reviewed commit (741db0a);
the report says the smallest fix for each."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest
import yaml
from conftest import EXAMPLES
from helpers import cli, config_for
from replay import ReplayServer

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.errors import UsageError
from etl.values import todo_skeleton

SENTINEL = "sk-sentinel-review-5b0e3a71"
JSON = {"Content-Type": "application/json"}


# ----- key leak ----------------------------------------------------------------------------------


def test_a_key_echoed_in_the_reason_phrase_of_a_200_never_reaches_the_store(server, make, tmp_path):
    """fetch.Fetcher._save copies ``response.reason`` unredacted into the cached response."""
    body = json.dumps({"data": [{"id": "a/b", "name": "B"}]}).encode()

    def echo(handler) -> None:
        handler.send_response(200, f"OK {SENTINEL}")
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server.script("/api/v2/language/models/free", [echo])
    fetcher, source, _ = make(server, "artificial_analysis", "/api/v2/language/models/free", key=SENTINEL)
    fetcher.documents(source, source.url)
    assert server.log[0]["headers"]["x-api-key"] == SENTINEL  # the key was sent
    fetcher.close()
    files = list(tmp_path.glob("s.sqlite*"))
    assert files and all(SENTINEL.encode() not in f.read_bytes() for f in files)


def test_a_key_that_http_headers_cannot_carry_is_refused_before_anything_opens(tmp_path):
    """A key with U+2028 (a line separator) or another non-ASCII character inside passes the
    control-character check, then the first request dies with UnicodeEncodeError ('latin-1' codec)
    instead of a one-line error. (Around the key, U+2028 is whitespace and is stripped.)"""
    with pytest.raises(UsageError) as err:
        Pipeline(
            PipelineConfig(cache_path=tmp_path / "s.sqlite", source_keys={"huggingface_key": f"{SENTINEL}\u2028x"})
        )
    assert str(err.value).startswith("the key for huggingface (set via HUGGINGFACE_API_KEY or HF_TOKEN")
    assert SENTINEL not in str(err.value)
    assert not (tmp_path / "s.sqlite").exists()


# ----- requests the declarations do not allow -----------------------------------------------------


def _eval_repo(server: ReplayServer, names: list[str]) -> None:
    text = "- {dataset: {id: Idavidrein/gpqa, task_id: diamond}, value: 50.0, source: {name: Model Card}}\n"
    server.route("/api/models/acme/m", body={"id": "acme/m", "siblings": [{"rfilename": n} for n in names]})
    for name in names:
        server.route(f"/acme/m/resolve/main/{name}", body=text.encode(), headers={"Content-Type": "text/plain"})


def test_a_listed_file_name_with_dot_segments_never_leaves_the_repo(workdir):
    """listing.Listing.files accepts '.eval_results/../../../../../api/whoami-v2.yaml' (the
    `matches` regex allows it) and url_for quotes it with safe='/': the request, key attached,
    goes to /api/whoami-v2.yaml on the source's host."""
    escape = ".eval_results/../../../../../api/whoami-v2.yaml"
    with ReplayServer() as server:
        _eval_repo(server, [".eval_results/gpqa.yaml", escape])
        config = config_for(workdir, server, [ModelInfo("M", hf_id="acme/m")], only=["huggingface", "hf_eval_results"])
        Pipeline(config).run()
        paths = [r["path"] for r in server.log]
    assert "/acme/m/resolve/main/.eval_results/gpqa.yaml" in paths
    assert all(p.startswith(("/api/models/acme/m", "/acme/m/")) for p in paths), paths


@pytest.mark.parametrize("published", ["acme/..", "https://huggingface.co/acme/.."])
def test_a_catalog_published_repo_id_with_dot_segments_is_not_a_join_key(workdir, published):
    """catalogs.REPO_ID accepts 'acme/..' (the config schema's hf_id pattern refuses '..'):
    Hugging Face is then asked for /api/models/ (every model) and /resolve/main/config.json."""
    with ReplayServer() as server:
        entry = {"id": "acme/m", "name": "M", "hugging_face_id": published}
        server.route("/api/v1/models", body={"data": [entry]})
        only = ["openrouter", "huggingface", "huggingface_config"]
        Pipeline(config_for(workdir, server, [ModelInfo("M")], only=only)).run()
        paths = [r["path"] for r in server.log]
    assert paths == ["/api/v1/models"]


# ----- tracebacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [".inf", ".nan"])
def test_a_non_finite_number_in_the_values_file_is_a_one_line_error(example_config, value):
    """values._entry_problems lets .inf/.nan through (jsonschema accepts them as numbers); load's
    json.dumps(allow_nan=False) then raises ValueError: a traceback."""
    values = example_config.parent / "values.yaml"
    values.write_text(f"models:\n  gpt-oss-120b:\n    model_specs.input_price: {{value: {value}, source: x}}\n")
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 2, result.output
    assert f"{values}: models.gpt-oss-120b.model_specs.input_price (line 3): " in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["todo", "--offline", "--write", "no/such/dir/values.yaml"],
        ["match", "--offline", "--write-pins", "no/such/dir/pins.yaml"],
        ["coverage", "-f", "html", "--output", "no/such/dir/coverage.html"],
        ["coverage", "-f", "csv", "--output", "."],
    ],
)
def test_writing_a_report_where_it_cannot_go_is_a_one_line_error(example_config, args):
    """cli.todo (write_atomic), pins.write_pins and the coverage writer let OSError through."""
    cli("run", "-c", str(example_config), "--offline")
    result = cli(args[0], "-c", str(example_config), *args[1:])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")


# ----- wrong values -------------------------------------------------------------------------------


def test_todo_writes_model_names_that_yaml_reads_back_as_the_same_names():
    """values._yaml_key writes `true`, `null`, `No` unquoted: the next run reads True/None/False
    and refuses its own skeleton ('unknown model 'True' (not in the config)')."""
    names = ["true", "null", "No", "on", "~"]
    text = todo_skeleton(None, {n: [("model_specs.param_count", [])] for n in names})
    assert set(yaml.safe_load(text)["models"]) == set(names)


def test_values_kept_from_the_last_load_do_not_cross_into_another_output(example_config):
    """load.Loader._keep_lost reads `loads` by model name only: a hand-entered value of the example's
    values file (Claude 3.5 Haiku's context window) lands in another config's output that has no
    values file, as 'manual (kept from the load of ...)'."""
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    data = yaml.safe_load(example_config.read_text())
    other = {
        "template_path": data["template_path"],
        "cache_path": data["cache_path"],
        "output_dir": str(example_config.parent / "other"),
        "models": ["Claude 3.5 Haiku"],
    }
    path = example_config.parent / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    cli("run", "-c", str(path), "--offline")
    written = json.loads((example_config.parent / "other" / "Claude 3.5 Haiku_filled.json").read_text())
    assert written["model_specs"]["context_window"] is None


# ----- --in-place on real folders -----------------------------------------------------------------


@pytest.fixture
def models_dir(workdir, warm_store):
    """A folder of two model files (template copies) and a private copy of the warm store."""
    store = workdir / "etl.sqlite"
    shutil.copy(warm_store, store)
    folder = workdir / "Models"
    folder.mkdir()
    template = (EXAMPLES / "templates" / "template.json").read_text()
    for name in ("Claude 3.5 Haiku", "GLM-4.6"):
        (folder / f"{name}.json").write_text(template)
    return folder, store


def test_in_place_fills_the_file_a_symlink_points_to_and_keeps_the_link(models_dir, workdir):
    """load.write_atomic os.replace()s the link itself: the link becomes a regular file and the
    real file (a checkout the link points into) is never filled."""
    folder, store = models_dir
    real = workdir / "checkout" / "GLM-4.6.json"
    real.parent.mkdir()
    (folder / "GLM-4.6.json").replace(real)
    (folder / "GLM-4.6.json").symlink_to(real)
    result = cli("run", "--input-dir", str(folder), "--in-place", "--offline", "--cache-path", str(store))
    assert result.exit_code == 0, result.output
    assert (folder / "GLM-4.6.json").is_symlink()
    assert json.loads(real.read_text())["model_specs"]["context_window"] is not None


def test_in_place_keeps_a_private_file_private(models_dir):
    """write_atomic gives the new file the umask's mode: a 0600 model file becomes 0644."""
    folder, store = models_dir
    path = folder / "Claude 3.5 Haiku.json"
    os.chmod(path, 0o600)
    result = cli("run", "--input-dir", str(folder), "--in-place", "--offline", "--cache-path", str(store))
    assert result.exit_code == 0, result.output
    assert path.read_text() != (EXAMPLES / "templates" / "template.json").read_text()  # it was filled
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# ----- data loss in the values file -----------------------------------------------------------------


def test_todo_write_keeps_the_users_comments_in_the_values_file(example_config):
    """cli.todo regenerates the file from its parsed data (values.todo_skeleton): every comment the
    user wrote is gone, here the example's reasons why Claude's param_count is left out on purpose;
    no backup is kept. The README tells users to run exactly this on examples/values.yaml."""
    values = example_config.parent / "values.yaml"
    reason = "# or the architecture of any Claude model, and no public source found states them."
    assert reason in values.read_text()
    result = cli("todo", "-c", str(example_config), "--offline", "--write", str(values))
    assert result.exit_code == 0, result.output
    assert reason in values.read_text()


def test_a_model_written_twice_in_the_values_file_is_refused_not_half_dropped(example_config):
    """files.load_yaml keeps the last of two equal keys: the first block's cited value is silently
    not used, and `etl todo --write` then deletes it from the file."""
    values = example_config.parent / "values.yaml"
    values.write_text(
        "models:\n"
        "  gpt-oss-120b:\n"
        "    model_specs.param_count: {value: 117000000000, source: 'https://developers.openai.com'}\n"
        "  gpt-oss-120b:\n"
        "    model_specs.input_price: {value: 0.1, source: x}\n"
    )
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 2, result.output
    assert f"error: {values}: line 4" in result.output


def test_a_tar_bomb_is_cut_at_the_body_limit(workdir):
    """formats._archive_records inflated without a bound: 1 MiB of archive is 1 GiB inflated."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("repo/data/organizations/o/models/m/model.json")
        info.size = 50_000_000
        archive.addfile(info, io.BytesIO(b" " * info.size))
    bomb = gzip.compress(raw.getvalue(), compresslevel=9)
    path = "/JonathanChavezTamales/llm-leaderboard/tar.gz/24a9ccf7402306f0c3e237213538e4537d64ecc2"
    with ReplayServer() as server:
        server.route(path, 200, bomb, {"Content-Type": "application/gzip"})
        sources = server.sources(only=["llm_stats"])
        sources["llm_stats"]["max_body"] = 10_000_000
        config = PipelineConfig.from_dict(
            {"cache_path": str(workdir / "s.sqlite"), "sources": sources, "max_retries": 0}, "t"
        )
        report = Pipeline(config).extract([ModelInfo("m")])
    assert [str(f) for f in report.failures] == [
        f"llm_stats: the archive from {server.url}{path} inflates beyond the 10,000,000 bytes limit; nothing kept; "
        "if it is genuine, raise sources.llm_stats.max_body"
    ]


@pytest.mark.parametrize(
    ("asked", "hop", "carries"),
    [
        ("https://huggingface.co/api/models/a/b", "https://huggingface.co/api/models/c/d", True),  # the declared host
        ("https://mirror.example/api/models/a/b", "https://mirror.example/api/models/a/b", False),  # another host
        ("http://huggingface.co/api/models/a/b", "http://huggingface.co/api/models/a/b", False),  # plain http
        ("https://huggingface.co/api/models/a/b", "https://cdn.example/x", False),  # a hop elsewhere
        ("http://127.0.0.1:8000/api/models/a/b", "http://127.0.0.1:8000/api/models/a/b", True),  # a local mirror
    ],
)
def test_a_key_goes_only_to_the_declared_host_over_https_or_to_loopback(tmp_path, asked, hop, carries):
    """A config that points a keyed source at another host (or plain http) sends no key there."""
    from urllib.parse import urlsplit

    from etl.fetch import Fetcher, FetchSettings
    from etl.mappings import load_mappings

    fetcher = Fetcher(
        FetchSettings(
            tmp_path / "s.sqlite", keys={"huggingface": SENTINEL}, key_hosts={"huggingface": "huggingface.co"}
        )
    )
    try:
        source = load_mappings().sources["huggingface"]
        assert fetcher.transport.may_carry_key(source, urlsplit(asked), urlsplit(hop)) is carries
    finally:
        fetcher.close()
