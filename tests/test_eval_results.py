"""hf_eval_results: the `.eval_results/*.yaml` files a Hugging Face repo's model_info lists in
`siblings`, one request per listed file and none for a repo that lists none; values and provenance
equal to the raw YAML files read here on their own; AIME 2026 never fills AIME (2024)."""

from __future__ import annotations

import json
import shutil

import yaml
from conftest import CASSETTES
from helpers import cli, config_for
from replay import ReplayServer
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.declared.mappings import load_mappings
from etl.declared.transforms import evaluate

GEMMA, BONSAI = "google/gemma-4-12B-it", "prism-ml/Ternary-Bonsai-27B-gguf"
#: the date every recorded eval file's response carries (the cassette's Date header)
RECORDED = "2026-07-31T00:00:00+00:00"
ONLY = ["huggingface", "hf_eval_results"]


def _recorded_files() -> dict[str, dict[str, str]]:
    """repo -> file name -> the raw YAML text, as recorded (cassettes/hf_eval_results.yaml)."""
    path = str(CASSETTES / "hf_eval_results.yaml")
    requests_, responses = FilesystemPersister.load_cassette(path, yamlserializer)
    out: dict[str, dict[str, str]] = {}
    for q, r in zip(requests_, responses, strict=True):
        repo, name = q.uri.removeprefix("https://huggingface.co/").split("/resolve/main/")
        body = r["body"]["string"]
        out.setdefault(repo, {})[name] = body.decode() if isinstance(body, bytes) else body
    return out


FILES = _recorded_files()


def _expected(repo: str, dataset: str, task: str | None = None) -> tuple[float, dict, str] | None:
    """(value, raw with provenance, URL) read straight from the YAML text; None when no row fits."""
    for name, text in sorted(FILES[repo].items()):
        for row in yaml.safe_load(text):
            if row["dataset"]["id"] != dataset or (task and row["dataset"]["task_id"] != task):
                continue
            value = float(row["value"])
            raw = {
                "value": row["value"],
                "notes": row.get("notes"),
                "source": row.get("source"),
                "date": row.get("date"),
                "_file": name,
            }
            return value, raw, f"https://huggingface.co/{repo}/resolve/main/{name}"
    return None


def _serve_repo(server: ReplayServer, repo: str, files: dict[str, str], extra: list[str]) -> None:
    """A model_info whose siblings list ``files`` (served) and ``extra`` (never asked for)."""
    siblings = [{"rfilename": n} for n in [*files, *extra]]
    server.route(f"/api/models/{repo}", body={"id": repo, "siblings": siblings})
    for name, text in files.items():
        server.route(f"/{repo}/resolve/main/{name}", body=text.encode(), headers={"Content-Type": "text/plain"})


def test_a_repo_listing_two_eval_files_costs_two_requests_and_one_listing_none_costs_none(workdir):
    two = {n: FILES[GEMMA][n] for n in (".eval_results/gpqa.yaml", ".eval_results/mmlu_pro.yaml")}
    models = [ModelInfo("Two Evals", hf_id="acme/two-evals"), ModelInfo("No Evals", hf_id="acme/no-evals")]
    with ReplayServer() as server:
        # listed but not eval files: a README, config.json, a non-YAML file in .eval_results/
        _serve_repo(server, "acme/two-evals", two, ["README.md", "config.json", ".eval_results/notes.txt"])
        _serve_repo(server, "acme/no-evals", {}, ["README.md", "config.json"])
        config = config_for(workdir, server, models, only=ONLY)
        cold = Pipeline(config)
        cold.run()
        cold_paths = sorted(r["path"] for r in server.log)
        warm = Pipeline(config)
        warm.run()
        warm_count = len(server.log) - len(cold_paths)
    assert cold_paths == [
        "/acme/two-evals/resolve/main/.eval_results/gpqa.yaml",
        "/acme/two-evals/resolve/main/.eval_results/mmlu_pro.yaml",
        "/api/models/acme/no-evals",
        "/api/models/acme/two-evals",
    ]  # each model_info once, then exactly the two listed YAML files; nothing for the repo listing none
    assert warm_count == 0
    online = {(r["field"], r["value"]) for r in warm.store.staged("Two Evals") if r["source"] == "hf_eval_results"}
    assert online == {("GPQA diamond", 78.8), ("MMLU Pro", 77.2)}
    matched = {m["source"]: m for m in warm.store.matches("No Evals")}["hf_eval_results"]
    assert (matched["status"], matched["note"]) == ("unmatched", "huggingface lists no file of this source")
    config.offline = True
    offline = Pipeline(config)
    offline.transform(models)
    for name in ("Two Evals", "No Evals"):
        assert offline.store.staged(name) == warm.store.staged(name)


def _staged(warm_store, workdir, models: list[ModelInfo]) -> Pipeline:
    """Transform, offline, on a copy of the store holding every cassette (recorded URLs as they are)."""
    store = workdir / "etl.sqlite"
    shutil.copy(warm_store, store)
    off = {name: {"enabled": False} for name in load_mappings().sources if name not in ONLY}
    config = {"template_path": "templates/template.json", "cache_path": str(store), "sources": off}
    pipeline = Pipeline(PipelineConfig.from_dict(config, "test", base_dir=workdir))
    pipeline.config.offline = True
    pipeline.transform(models)
    return pipeline


def test_values_and_provenance_equal_the_raw_yaml_files(warm_store, workdir):
    models = [ModelInfo("gemma", hf_id=GEMMA), ModelInfo("bonsai", hf_id=BONSAI)]
    pipeline = _staged(warm_store, workdir, models)
    wanted = {
        ("gemma", "GPQA diamond"): _expected(GEMMA, "Idavidrein/gpqa", "diamond"),
        ("gemma", "MMLU Pro"): _expected(GEMMA, "TIGER-Lab/MMLU-Pro"),
        ("bonsai", "GPQA diamond"): _expected(BONSAI, "Idavidrein/gpqa", "diamond"),
        ("bonsai", "GSM-8K"): _expected(BONSAI, "openai/gsm8k"),
    }
    got = {}
    for model in ("gemma", "bonsai"):
        for row in pipeline.store.staged(model):
            if row["source"] == "hf_eval_results":
                got[(model, row["field"])] = (row["value"], row["raw"], row["url"])
                assert row["fetched_at"] == RECORDED
    assert got == wanted
    # what the provenance keeps: who measured it, where it says so, how, and from which file
    bonsai_gpqa = got[("bonsai", "GPQA diamond")][1]
    assert bonsai_gpqa["source"]["user"] == "christopher-oneill"
    assert bonsai_gpqa["notes"].startswith("Q2, CTX=32768, thinking mode ON")
    assert got[("gemma", "GPQA diamond")][1]["source"]["url"] == "https://huggingface.co/google/gemma-4-12B-it"


def test_aime_2026_never_fills_aime_2024(warm_store, workdir):
    models = [ModelInfo("gemma", hf_id=GEMMA), ModelInfo("bonsai", hf_id=BONSAI)]
    pipeline = _staged(warm_store, workdir, models)
    for model in ("gemma", "bonsai"):
        assert not [r for r in pipeline.store.staged(model) if r["field"] == "AIME"]
    # every candidate of every field, against every recorded row: the aime_2026 rows (77.5, 87.5) fill nothing
    rows = [row for files in FILES.values() for text in files.values() for row in yaml.safe_load(text)]
    aime = [r for r in rows if r["dataset"]["id"] == "MathArena/aime_2026"]
    assert sorted(r["value"] for r in aime) == [77.5, 87.5]
    for _, fname, cands in load_mappings().fields():
        for cand in (c for c in cands if c.source == "hf_eval_results"):
            assert evaluate(cand, aime) == (None, None), fname


def test_mapping_mistakes_are_named_with_the_fix(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(load_mappings().folder, folder)
    text = (folder / "hf_eval_results.yaml").read_text()
    bad = text.replace("listed_by: {source: huggingface,", "listed_by: {source: hugingface,")
    bad = bad.replace("resolve/main/{file}", "resolve/main/x.yaml")
    (folder / "hf_eval_results.yaml").write_text(bad)
    result = cli("mappings", "check", str(folder))
    assert result.exit_code == 2, result.output
    where = f"{folder / 'hf_eval_results.yaml'}: sources.hf_eval_results"
    assert f"{where}.listed_by.source: unknown source 'hugingface': did you mean 'huggingface'?" in result.output
    assert f"{where}.url: a listed source is per_model and its url has a {{file}} placeholder" in result.output


def test_the_example_grm_eval_file_is_not_recorded_so_offline_names_it(example_config, workdir):
    """OrionLLM/GRM-2.6-Opus's real model_info lists .eval_results/gpqa_diamond.yaml; that file's
    body is not among the recorded ones. The example pins it out; without the pin, offline says so."""
    assert "/OrionLLM/GRM-2.6-Opus/" not in json.dumps(FILES)
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    grm = json.loads((workdir / "out" / "GRM-2.6-Opus_filled.json").read_text())
    assert grm["dev_benchmarks"]["GPQA diamond"] is None
    data = yaml.safe_load(example_config.read_text())
    for model in data["models"]:
        if isinstance(model, dict) and model["name"] == "GRM-2.6-Opus":
            model.pop("ids")
    example_config.write_text(yaml.safe_dump(data))
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 3
    assert (
        "not cached (`etl cache missing` lists every one): "
        "https://huggingface.co/OrionLLM/GRM-2.6-Opus/resolve/main/.eval_results/gpqa_diamond.yaml" in result.output
    )


def test_other_variants_of_a_mapped_benchmark_fill_nothing():
    """Constructed decoys (no real file has them): GPQA main is not Diamond; a 'With tools' run
    (the Hub's convention for a tool-using score) is another variant of any benchmark."""
    gpqa = {"source": {"url": "https://example.org", "name": "Model Card"}}
    decoys = [
        {"dataset": {"id": "Idavidrein/gpqa", "task_id": "main"}, "value": 50.0, **gpqa},
        {"dataset": {"id": "Idavidrein/gpqa", "task_id": "diamond"}, "value": 90.0, "notes": "With tools", **gpqa},
        {"dataset": {"id": "TIGER-Lab/MMLU-Pro", "task_id": "mmlu_pro"}, "value": 90.0, "notes": "With tools"},
    ]
    cands = [c for _, _, cs in load_mappings().fields() for c in cs if c.source == "hf_eval_results"]
    assert {c.field for c in cands} == {"GPQA diamond", "MMLU Pro", "GSM-8K"}
    for cand in cands:
        assert evaluate(cand, decoys) == (None, None), cand.field
    # and the same candidates do read a plain row: the decoys are refused for what they are
    plain = {"dataset": {"id": "Idavidrein/gpqa", "task_id": "diamond"}, "value": 0.5, "notes": "No tools"}
    gpqa_cand = next(c for c in cands if c.field == "GPQA diamond")
    assert evaluate(gpqa_cand, [*decoys, plain])[1] == 50.0  # a fraction, read as percent


def test_a_discovered_key_fetches_the_listed_files_after_its_model_info(workdir):
    """No hf_id: OpenRouter's hugging_face_id names the repo (phase two fetches its model_info),
    then its two listed eval files (phase three); a warm re-run sends nothing. The repo's name is the
    entry's (a repo with other tokens is refused as a key: tests/test_join_keys.py)."""
    two = {n: FILES[GEMMA][n] for n in (".eval_results/gpqa.yaml", ".eval_results/mmlu_pro.yaml")}
    catalog = {"data": [{"id": "acme/foo-1", "name": "Acme: Foo 1", "hugging_face_id": "acme/Foo-1"}]}
    with ReplayServer() as server:
        server.route("/api/v1/models", body=catalog)
        _serve_repo(server, "acme/Foo-1", two, ["README.md"])
        config = config_for(workdir, server, [ModelInfo("Foo 1")], only=[*ONLY, "openrouter"])
        Pipeline(config).run()
        cold = [r["path"] for r in server.log]
        pipeline = Pipeline(config)
        pipeline.run()
        assert len(server.log) == len(cold)
    assert cold[:2] == ["/api/v1/models", "/api/models/acme/Foo-1"]
    assert sorted(cold[2:]) == [f"/acme/Foo-1/resolve/main/{n}" for n in sorted(two)]
    gpqa = pipeline.store.staged("Foo 1", "GPQA diamond")[0]
    assert (gpqa["source"], gpqa["value"]) == ("hf_eval_results", 78.8)
    assert gpqa["context"]["hf_id_from"] == "hf_id acme/Foo-1 from openrouter entry acme/foo-1 (hugging_face_id)"


def test_a_listing_past_max_files_sends_no_file_request_and_says_why(workdir):
    """10,000 listed eval files would be 10,000 requests with the user's key: past the mapping's
    max_files (50) none is sent, and the model's hf_eval_results says how many and what to raise."""
    many = [f".eval_results/bench_{i}.yaml" for i in range(10_000)]
    few = {".eval_results/gpqa.yaml": FILES[GEMMA][".eval_results/gpqa.yaml"]}
    models = [ModelInfo("Flood", hf_id="acme/flood"), ModelInfo("Few", hf_id="acme/few")]
    with ReplayServer() as server:
        _serve_repo(server, "acme/flood", {}, many)
        _serve_repo(server, "acme/few", few, [])
        config = config_for(workdir, server, models, only=ONLY)
        pipeline = Pipeline(config)
        pipeline.run()
        paths = sorted(r["path"] for r in server.log)
    assert paths == ["/acme/few/resolve/main/.eval_results/gpqa.yaml", "/api/models/acme/few", "/api/models/acme/flood"]
    flood = {m["source"]: m for m in pipeline.store.matches("Flood")}["hf_eval_results"]
    assert flood["status"] == "failed"
    assert flood["note"] == (
        "huggingface lists 10,000 files of hf_eval_results for this model, more than listed_by.max_files (50): "
        "none fetched; if they are genuine, raise max_files in the listed_by of hf_eval_results (mappings)"
    )
    few_values = {r["field"] for r in pipeline.store.staged("Few") if r["source"] == "hf_eval_results"}
    assert few_values == {"GPQA diamond"}  # the cap is per model: the other model is read as before


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
