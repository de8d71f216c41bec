"""Every mapped (field, source) pair, checked against the recorded raw value after its declared
transform, over a reference set of real models drawn from the recorded samples.

The expected values are computed here from the cassette bodies, independently of the engine's
matcher and transforms; the reference models' entries are found here by exact Hugging Face id or
exact name, not by the engine. A mapping added without an entry in EXPECTED fails the meta-test.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tarfile
from datetime import datetime
from decimal import Decimal

import pytest
import yaml
from conftest import REPORT
from replay import CASSETTES
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.declared.mappings import load_mappings


def _bodies(name: str) -> list:
    _, responses = FilesystemPersister.load_cassette(str(CASSETTES / name), yamlserializer)
    out = []
    for r in responses:
        if r["status"]["code"] != 200:
            continue
        text = r["body"]["string"]
        text = text.decode() if isinstance(text, bytes) else text
        ctype = ", ".join(r["headers"].get("Content-Type", []))
        out.append(list(csv.DictReader(io.StringIO(text.lstrip("\ufeff")))) if "csv" in ctype else json.loads(text))
    return out


def _bodies_by_uri(name: str) -> dict:
    """URI -> parsed JSON body of every 200 response of a cassette."""
    requests_, responses = FilesystemPersister.load_cassette(str(CASSETTES / name), yamlserializer)
    return {
        q.uri: json.loads(r["body"]["string"])
        for q, r in zip(requests_, responses, strict=True)
        if r["status"]["code"] == 200
    }


def _eval_results() -> dict:
    """hf_eval_results: repo -> the rows of all its recorded .eval_results files (YAML bodies)."""
    requests_, responses = FilesystemPersister.load_cassette(str(CASSETTES / "hf_eval_results.yaml"), yamlserializer)
    out: dict = {}
    for q, r in zip(requests_, responses, strict=True):
        repo = q.uri.split("huggingface.co/")[1].split("/resolve/")[0]
        out.setdefault(repo, []).extend(yaml.safe_load(r["body"]["string"]))
    return out


def _eval_row(rows, dataset, task=None, percent=False):
    """The first row of the dataset (and task) that is not a 'With tools' run; a fraction as percent."""
    for row in rows:
        if row["dataset"]["id"] == dataset and task in (None, row["dataset"]["task_id"]):
            if row.get("notes") == "With tools":
                continue
            value = float(row["value"])
            return value * 100 if percent and abs(value) <= 1 else value
    return None


def _raw_body(name: str) -> bytes:
    """The one recorded body of a cassette, as bytes (YAML text, a tar.gz archive)."""
    _, [response] = FilesystemPersister.load_cassette(str(CASSETTES / name), yamlserializer)
    body = response["body"]["string"]
    return body if isinstance(body, bytes) else body.encode()


def _llm_stats_records() -> dict:
    """model_id -> model.json with its benchmarks.json rows, read straight from the archive."""
    out, rows = {}, {}
    with tarfile.open(fileobj=io.BytesIO(_raw_body("llm_stats.yaml"))) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if len(parts) == 7 and parts[1:3] == ["data", "organizations"] and parts[4] == "models":
                data = json.load(archive.extractfile(member))
                if parts[6] == "model.json":
                    out[data["model_id"]] = data
                elif parts[6] == "benchmarks.json":
                    rows[parts[5]] = data
    return {mid: {**m, "benchmarks": rows.get(mid)} for mid, m in out.items()}


def _aider_best() -> dict:
    """Display name -> its best run (highest pass_rate_2), as the leaderboard ranks a model."""
    best: dict = {}
    for row in yaml.load(_raw_body("aider.yaml").decode(), Loader=yaml.BaseLoader):
        if row["model"] not in best or float(row["pass_rate_2"]) > float(best[row["model"]]["pass_rate_2"]):
            best[row["model"]] = row
    return best


def _keyed(body: dict) -> dict:
    return {k: {**v, "model": k} for k, v in body.items()}


@pytest.fixture(scope="module")
def raw():
    """source -> entry id (as the engine reports it) -> raw entry, straight from the cassettes."""
    livebench_table, categories = _bodies("livebench.yaml")
    return {
        "artificial_analysis": {
            e["slug"]: e for page in _bodies("artificial_analysis_free.yaml") for e in page["data"]
        },
        "artificial_analysis_pro": {e["slug"]: e for e in _bodies("artificial_analysis_pro.yaml")[0]["data"]},
        "openrouter": {e["id"]: e for e in _bodies("openrouter_models.yaml")[0]["data"]},
        "lmarena": {r["row"]["model_name"]: r["row"] for page in _bodies("lmarena_rows.yaml") for r in page["rows"]},
        "huggingface": {b["id"]: b for b in _bodies("huggingface_models.yaml")},
        "huggingface_config": {
            uri.split("huggingface.co/")[1].split("/resolve/")[0]: body
            for uri, body in _bodies_by_uri("huggingface_config.yaml").items()
        },
        "livebench": {r["model"]: r for r in livebench_table},
        "livebench:categories": categories,
        "bigcodebench": _keyed(_bodies("bigcodebench.yaml")[0]),
        "evalplus": _keyed(_bodies("evalplus.yaml")[0]),
        "open_llm": {r["row"]["eval_name"]: r["row"] for page in _bodies("open_llm.yaml") for r in page["rows"]},
        "ugi": {r["author/model_name"]: r for r in _bodies("ugi.yaml")[0]},
        "open_vlm": _keyed(_bodies("open_vlm.yaml")[0]["results"]),
        "llm_stats": _llm_stats_records(),
        "arena_hard": {r["model"]: r for r in _bodies("arena_hard.yaml")[0]},
        "wildbench": _keyed(_bodies("wildbench.yaml")[0]),
        "mt_bench": {r["key"]: r for r in _bodies("mt_bench.yaml")[0]},
        "bfcl": {r["Model"]: r for r in _bodies("bfcl.yaml")[0]},
        "aider": _aider_best(),
        "swe_bench": {r["folder"]: r for r in _bodies("swe_bench.yaml")[0]["leaderboards"][0]["results"]},
        "hf_eval_results": _eval_results(),
    }


def _hf_score(entry, now):
    d, likes = entry["downloads"], entry["likes"]
    # the fetch time is the recording date (the cassettes' Date header): some repos were weeks old then
    months = (now - datetime.fromisoformat(entry["createdAt"].replace("Z", "+00:00"))).total_seconds() / 86400 / 30.437
    if months < 1:
        age = months / 2
    elif months < 3:
        age = 0.5 + (months - 1) / 2
    else:
        age = 1.5 + (min(months, 12) - 3) / 18  # 1.5 at 3 months, 2.0 at 12, then 1.5 beyond a year
        age = 1.5 if months > 12 else age
    parts = (0.0 if d < 10 else min(max(0.2007 * math.log2(d) - 0.6667, 0), 4)) + (
        0.0 if likes < 3 else min(max(0.477 * math.log2(likes) - 0.756, 0), 4)
    )
    return round(parts + age, 2)


def _livebench(row, categories):
    means = [sum(float(row[t]) for t in tasks) / len(tasks) for tasks in categories.values()]
    return round(sum(means) / len(means), 2)


def _served_window(config):
    """config.json's window: yarn factor x original length when declared, else max_position_embeddings."""
    rope = config.get("rope_scaling") or {}
    if "yarn" in (rope.get("type"), rope.get("rope_type")):
        return int(rope["factor"] * rope["original_max_position_embeddings"])
    return config.get("max_position_embeddings")


def _count(value):
    """Parameters as a raw count (the default unit): sources publish billions or counts."""
    value = float(value)
    return round(value) if value > 100_000 else round(value * 1e9)


def _num(value):
    return None if value in (None, "NA", "") else float(value)


def _round(value, digits):
    return None if value is None else round(value, digits)


def _per_token(value: str) -> float:
    return float(Decimal(value) * 1000000)


def _nonzero(value):
    return None if value in (0, 0.0) else value


def _card(entry, types, config=None):
    """A model-card result by dataset id (and config), first metric, a fraction read as percent."""
    for wanted in types:
        for index in (entry.get("cardData") or {}).get("model-index") or []:
            for result in index["results"]:
                if result["dataset"]["type"] == wanted and (
                    config is None or result["dataset"].get("config") == config
                ):
                    value = float(result["metrics"][0]["value"])
                    return round(value * 100, 10) if value <= 1 else value
    return None


def _moe_name(name):
    import re

    return "moe" if re.search(r"(?<![a-z0-9])(\d+x\d+(\.\d+)?b|a\d+(\.\d+)?b)(?![a-z0-9])", name, re.I) else None


# (section, field, source) -> expected value from the raw entry (r), the fetch time and all raw data
EXPECTED = {
    ("model_specs", "input_price", "artificial_analysis_pro"): lambda r, now, d: _nonzero(
        r["pricing"]["price_1m_input_tokens"]
    ),
    ("model_specs", "input_price", "artificial_analysis"): lambda r, now, d: _nonzero(
        r["pricing"]["price_1m_input_tokens"]
    ),
    ("model_specs", "input_price", "openrouter"): lambda r, now, d: _per_token(r["pricing"]["prompt"]),
    ("model_specs", "output_price", "artificial_analysis_pro"): lambda r, now, d: _nonzero(
        r["pricing"]["price_1m_output_tokens"]
    ),
    ("model_specs", "output_price", "artificial_analysis"): lambda r, now, d: _nonzero(
        r["pricing"]["price_1m_output_tokens"]
    ),
    ("model_specs", "output_price", "openrouter"): lambda r, now, d: _per_token(r["pricing"]["completion"]),
    ("model_specs", "context_window", "artificial_analysis_pro"): lambda r, now, d: r["context_window_tokens"],
    ("model_specs", "context_window", "openrouter"): lambda r, now, d: r["context_length"],
    ("model_specs", "context_window", "huggingface_config"): lambda r, now, d: _served_window(r),
    ("model_specs", "param_count", "artificial_analysis_pro"): lambda r, now, d: _count(r["parameters"]["total"]),
    ("model_specs", "param_count", "huggingface"): lambda r, now, d: (
        None  # packed dtypes (gpt-oss's U8 MXFP4 weights): the total counts bytes, not parameters
        if set(r["safetensors"]["parameters"]) & {"U8", "U32", "I32", "U4", "I8"}
        else r["safetensors"]["total"]
    ),
    ("model_specs", "param_count", "open_llm"): lambda r, now, d: _count(r["#Params (B)"]),
    ("model_specs", "param_count", "bigcodebench"): lambda r, now, d: _count(r["size"]),
    ("model_specs", "architecture", "huggingface_config"): lambda r, now, d: (
        "moe" if any((r.get(k) or 0) > 1 for k in ("num_local_experts", "n_routed_experts", "num_experts")) else "dense"
    ),
    ("model_specs", "architecture", "artificial_analysis_pro"): lambda r, now, d: (
        "moe" if r["parameters"]["active"] < r["parameters"]["total"] else "dense"
    ),
    ("model_specs", "architecture", "open_llm"): lambda r, now, d: "moe" if r["MoE"] else "dense",
    ("model_specs", "architecture", "bigcodebench"): lambda r, now, d: "moe" if r["moe"] else "dense",
    ("community_score", "lm_sys_arena_score", "lmarena"): lambda r, now, d: round(r["rating"], 2),
    ("community_score", "hf_score", "huggingface"): lambda r, now, d: _hf_score(r, now),
    ("dev_benchmarks", "GPQA diamond", "hf_eval_results"): lambda r, now, d: _eval_row(
        r, "Idavidrein/gpqa", "diamond", percent=True
    ),
    ("dev_benchmarks", "MMLU Pro", "hf_eval_results"): lambda r, now, d: _eval_row(
        r, "TIGER-Lab/MMLU-Pro", percent=True
    ),
    ("dev_benchmarks", "GSM-8K", "hf_eval_results"): lambda r, now, d: _eval_row(r, "openai/gsm8k"),
    ("entity_benchmarks", "artificial_analysis", "artificial_analysis_pro"): lambda r, now, d: r["evaluations"][
        "artificial_analysis_intelligence_index"
    ],
    ("entity_benchmarks", "artificial_analysis", "artificial_analysis"): lambda r, now, d: r["evaluations"][
        "artificial_analysis_intelligence_index"
    ],
    ("entity_benchmarks", "Livebench", "livebench"): lambda r, now, d: _livebench(r, d["livebench:categories"]),
    ("entity_benchmarks", "open_llm", "open_llm"): lambda r, now, d: round(r["Average ⬆️"], 2),
    ("entity_benchmarks", "UGI Leaderboard", "ugi"): lambda r, now, d: _num(r["UGI 🏆"]),
    ("entity_benchmarks", "big_code_bench", "bigcodebench"): lambda r, now, d: r["pass@1"]["complete"],
    ("entity_benchmarks", "EvalPlus Leaderboard", "evalplus"): lambda r, now, d: r["pass@1"]["humaneval+"],
    ("dev_benchmarks", "GPQA diamond", "artificial_analysis_pro"): lambda r, now, d: round(
        r["evaluations"]["gpqa_diamond"] * 100, 2
    ),
    ("dev_benchmarks", "Humanity's Last Exam", "artificial_analysis_pro"): lambda r, now, d: round(
        r["evaluations"]["hle"] * 100, 2
    ),
    ("dev_benchmarks", "SciCode", "artificial_analysis_pro"): lambda r, now, d: round(
        r["evaluations"]["scicode"] * 100, 2
    ),
    ("dev_benchmarks", "HumanEval", "evalplus"): lambda r, now, d: r["pass@1"]["humaneval"],
    ("dev_benchmarks", "HumanEval", "huggingface"): lambda r, now, d: _card(
        r, ["openai/openai_humaneval", "openai_humaneval"]
    ),
    ("dev_benchmarks", "MMLU", "huggingface"): lambda r, now, d: _card(r, ["cais/mmlu", "mmlu"]),
    ("dev_benchmarks", "MMLU Pro", "huggingface"): lambda r, now, d: _card(r, ["TIGER-Lab/MMLU-Pro"]),
    ("dev_benchmarks", "GPQA diamond", "huggingface"): lambda r, now, d: _card(r, ["Idavidrein/gpqa"], "gpqa_diamond"),
    ("dev_benchmarks", "HellaSwag", "huggingface"): lambda r, now, d: _card(r, ["Rowan/hellaswag", "hellaswag"]),
    ("dev_benchmarks", "ARC-C", "huggingface"): lambda r, now, d: _card(
        r, ["allenai/ai2_arc", "ai2_arc"], "ARC-Challenge"
    ),
    ("dev_benchmarks", "GSM-8K", "huggingface"): lambda r, now, d: _card(r, ["openai/gsm8k", "gsm8k"]),
    ("model_specs", "architecture", "openrouter"): lambda r, now, d: _moe_name(r["name"]),
    ("model_specs", "architecture", "artificial_analysis"): lambda r, now, d: _moe_name(r["name"]),
    ("dev_benchmarks", "MMMU", "open_vlm"): lambda r, now, d: r["MMMU_VAL"]["Overall"],
    ("dev_benchmarks", "Mathvista", "open_vlm"): lambda r, now, d: r["MathVista"]["Overall"],
    ("dev_benchmarks", "AI2D", "open_vlm"): lambda r, now, d: r["AI2D"]["Overall"],
    ("entity_benchmarks", "Open VLM", "open_vlm"): lambda r, now, d: _open_vlm(r),
    ("dev_benchmarks", "Wild Bench", "wildbench"): lambda r, now, d: round(r["WB_score.task_macro"], 2),
    ("dev_benchmarks", "MT-bench", "mt_bench"): lambda r, now, d: (
        None if r["MT-bench (score)"] in ("-", "") else round(float(r["MT-bench (score)"]) * 10, 2)
    ),
    ("dev_benchmarks", "Arena-Hard", "arena_hard"): lambda r, now, d: float(r["score"]),
    ("dev_benchmarks", "Aider Polyglot", "aider"): lambda r, now, d: float(r["pass_rate_2"]),
    ("dev_benchmarks", "SWE-Bench", "swe_bench"): lambda r, now, d: r["resolved"],
    ("dev_benchmarks", "BFCL", "bfcl"): lambda r, now, d: float(r["Overall Acc"].rstrip("%")),
}

#: LLM Stats benchmark ids this test accepts per field (the variant guard, read independently):
#: a row's expected value is the score of the id its path names, x100, and that id must be listed here
LLM_STATS_IDS = {
    "MMLU": ["mmlu"],
    "MMLU Pro": ["mmlu-pro"],
    "BigBenchHard": ["big-bench-hard", "bbh"],
    "GPQA diamond": ["gpqa"],
    "DROP": ["drop"],
    "HellaSwag": ["hellaswag"],
    "ARC-C": ["arc-c"],
    "Wild Bench": ["wild-bench"],
    "MT-bench": ["mt-bench"],
    "IFEval": ["ifeval"],
    "Arena-Hard": ["arena-hard"],
    "MATH": ["math"],
    "GSM-8K": ["gsm8k"],
    "AIME": ["aime-2024"],
    "HumanEval": ["humaneval"],
    "MBPP": ["mbpp"],
    "LiveCodeBench": ["livecodebench-v5", "livecodebench"],
    "Aider Polyglot": ["aider-polyglot"],
    "SWE-Bench": ["swe-bench-verified"],
    "SciCode": ["scicode"],
    "MGSM": ["mgsm"],
    "MMMLU": ["mmmlu"],
    "C-Eval or CMMLU": ["c-eval", "cmmlu"],
    "LongBench": ["longbench-v2"],
    "BFCL": ["bfcl-v3", "bfcl"],
    "Gorilla Benchmark": ["gorilla-benchmark-api-bench"],
    "MMMU": ["mmmu", "mmmu-(val)", "mmmu-(validation)", "mmmuval"],
    "Mathvista": ["mathvista-mini", "mathvista"],
    "ChartQA": ["chartqa"],
    "DocVQA": ["docvqa"],
    "AI2D": ["ai2d"],
}
EXPECTED.update({("dev_benchmarks", f, "llm_stats"): None for f in LLM_STATS_IDS})


def _llm_stats(entry: dict, row: dict):
    """The normalized score (0-1, whatever scale `score` is on) x100 of the benchmark id the row's
    path names, with its self-reported flag."""
    wanted = re.search(r"benchmark_id == '([^']+)'", row["path"]).group(1)
    assert wanted in LLM_STATS_IDS[row["field"]], (row["field"], wanted)
    raw = json.loads(row["raw"]) if isinstance(row["raw"], str) else row["raw"]
    [bench] = [
        b
        for b in entry["benchmarks"]
        if b["benchmark_id"] == wanted and b.get("model_benchmark_id") == raw["model_benchmark_id"]
    ]
    assert raw["is_self_reported"] == bench["is_self_reported"]
    assert bool(row["rejected"]) == _llm_stats_refused(row["field"], wanted, bench["analysis_method"] or ""), row
    return float(round(Decimal(str(bench["normalized_score"])) * 100, 2))


#: (field, id) -> what a row must state to be the field's variant; read from the ids' definitions
ROW_MUST_SAY = {
    ("GPQA diamond", "gpqa"): "diamond",  # the definition describes the 448-question main set
    ("MMMU", "mmmu"): "val",  # no split in the definition
    ("Mathvista", "mathvista"): "mini",  # the definition describes all 6,141 examples
    ("Wild Bench", "wild-bench"): "task macro",  # two metrics, no version in the definition
}
#: field -> (its one version, id -> the version the id states, or None: the row's method says)
VERSIONS = {
    "BFCL": ("4", {"bfcl-v3": "3", "bfcl": None}),
    "Arena-Hard": ("0.1", {"arena-hard": None}),
    "LiveCodeBench": ("5", {"livecodebench-v5": "5", "livecodebench": None}),
}


def _llm_stats_refused(field: str, bench_id: str, method: str) -> bool:
    must = ROW_MUST_SAY.get((field, bench_id))
    if must and must.replace(" ", "") not in method.lower().replace(" ", "").replace("-", "").replace("_", ""):
        return True
    if field == "Wild Bench":
        return False
    if field in VERSIONS:
        means, by_id = VERSIONS[field]
        stated = by_id.get(bench_id)
        if stated is None:
            found = re.search(r"\bv(\d+(?:\.\d+)?)\b", method, re.I)
            stated = found.group(1) if found else ("0.1" if field == "Arena-Hard" else None)
        return stated != means
    return False


def _open_vlm(entry):
    """Avg Score of the leaderboard's 8 default datasets; OCRBench /10; MMBench v1.1 = EN/CN mean."""
    parts = [entry[k]["Overall"] for k in ("MMStar", "MMMU_VAL", "MathVista", "AI2D", "HallusionBench", "MMVet")]
    parts.append(entry["OCRBench"]["Final Score"] / 10)
    parts.append((entry["MMBench_TEST_EN_V11"]["Overall"] + entry["MMBench_TEST_CN_V11"]["Overall"]) / 2)
    return round(sum(parts) / len(parts), 1)


# The reference set: real models of the recorded samples. hf: the repo id (join key); name: what a
# user would write; expect: entries this test found by exact id or exact name, that the engine must match.
REFERENCE = [
    (
        "Qwen2.5-Coder-32B-Instruct",
        "Qwen/Qwen2.5-Coder-32B-Instruct",
        {},
        {
            "openrouter": "qwen/qwen-2.5-coder-32b-instruct",
            "open_llm": "Qwen_Qwen2.5-Coder-32B-Instruct_float16",
            "bigcodebench": "Qwen2.5-Coder-32B-Instruct",
            "evalplus": "Qwen2.5-Coder-32B-Instruct",
            "ugi": "Qwen/Qwen2.5-Coder-32B-Instruct",
        },
    ),
    (
        "Mixtral-8x22B-Instruct-v0.1",
        "mistralai/Mixtral-8x22B-Instruct-v0.1",
        {},
        {
            "openrouter": "mistralai/mixtral-8x22b-instruct",
            "bigcodebench": "Mixtral-8x22B-Instruct",
            "evalplus": "Mixtral-8x22B-Instruct-v0.1",
            "ugi": "mistralai/Mixtral-8x22B-Instruct-v0.1",
        },
    ),
    (
        "DeepSeek V3",
        "deepseek-ai/DeepSeek-V3",
        {"aider": "DeepSeek Chat V3 (prev)"},  # "DeepSeek V3 (0324)" is the later checkpoint
        {
            "artificial_analysis": "deepseek-v3",
            "openrouter": "deepseek/deepseek-chat",
            "lmarena": "DeepSeek-V3",
            "bigcodebench": "DeepSeek-V3",
            "evalplus": "DeepSeek-V3 (Nov 2024)",
            "ugi": "deepseek-ai/DeepSeek-V3",
            "huggingface": "deepseek-ai/DeepSeek-V3",
            "huggingface_config": "deepseek-ai/DeepSeek-V3",
        },
    ),
    (
        "Llama-3.3-70B-Instruct",
        "meta-llama/Llama-3.3-70B-Instruct",
        {},
        {
            "openrouter": "meta-llama/llama-3.3-70b-instruct",
            "bigcodebench": "Llama-3.3-70B-Instruct",
            "ugi": "meta-llama/Llama-3.3-70B-Instruct",
        },
    ),
    (
        "Qwen2.5-7B-Instruct",
        "Qwen/Qwen2.5-7B-Instruct",
        {},
        {
            "openrouter": "qwen/qwen-2.5-7b-instruct",
            "bigcodebench": "Qwen2.5-7B-Instruct",
            "ugi": "Qwen/Qwen2.5-7B-Instruct",
        },
    ),
    (
        "Llama-3.2-3B-Instruct",
        "meta-llama/Llama-3.2-3B-Instruct",
        {},
        {
            "openrouter": "meta-llama/llama-3.2-3b-instruct",
            "bigcodebench": "Llama-3.2-3B-Instruct",
            "ugi": "meta-llama/Llama-3.2-3B-Instruct",
        },
    ),
    (
        "Qwen2.5 72B Instruct",
        "Qwen/Qwen2.5-72B-Instruct",
        {},
        {
            "artificial_analysis": "qwen2-5-72b-instruct",
            "openrouter": "qwen/qwen-2.5-72b-instruct",
            "lmarena": "Qwen2.5-72B-Instruct",
            "open_llm": "Qwen_Qwen2.5-72B-Instruct_bfloat16",
            "bigcodebench": "Qwen2.5-72B-Instruct",
            "ugi": "Qwen/Qwen2.5-72B-Instruct",
            "huggingface": "Qwen/Qwen2.5-72B-Instruct",
            "huggingface_config": "Qwen/Qwen2.5-72B-Instruct",
        },
    ),
    (
        "gemma-2-27b-it",
        "google/gemma-2-27b-it",
        {},
        {
            "openrouter": "google/gemma-2-27b-it",
            "open_llm": "google_gemma-2-27b-it_bfloat16",
            "bigcodebench": "Gemma-2-27B-Instruct",
            "ugi": "google/gemma-2-27b-it",
        },
    ),
    (
        "c4ai-command-r-plus",
        "CohereForAI/c4ai-command-r-plus",
        {},
        {
            "open_llm": "CohereForAI_c4ai-command-r-plus_float16",
            "bigcodebench": "Command R+",
            "evalplus": "Command-R+",
            "ugi": "CohereForAI/c4ai-command-r-plus",
        },
    ),
    (
        "Codestral-22B-v0.1",
        "mistralai/Codestral-22B-v0.1",
        {},
        {
            "open_llm": "mistralai_Codestral-22B-v0.1_bfloat16",
            "bigcodebench": "Codestral-22B-v0.1",
            "evalplus": "Codestral-22B-v0.1",
            "ugi": "mistralai/Codestral-22B-v0.1",
        },
    ),
    (
        "Llama-4-Maverick",
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
        {},
        {
            "openrouter": "meta-llama/llama-4-maverick",
            "bigcodebench": "Llama-4-Maverick",
            "ugi": "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
        },
    ),
    (
        "gemma-3-27b-it",
        "google/gemma-3-27b-it",
        {},
        {"openrouter": "google/gemma-3-27b-it", "bigcodebench": "Gemma-3-27B-Instruct", "ugi": "google/gemma-3-27b-it"},
    ),
    (
        "Phi-4",
        "microsoft/phi-4",
        {},
        {"openrouter": "microsoft/phi-4", "bigcodebench": "Phi-4", "ugi": "microsoft/phi-4"},
    ),
    (
        "DeepSeek-R1-Distill-Llama-70B",
        "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        {},
        {
            "openrouter": "deepseek/deepseek-r1-distill-llama-70b",
            "open_llm": "deepseek-ai_DeepSeek-R1-Distill-Llama-70B_bfloat16",
            "bigcodebench": "DeepSeek-R1-Distill-Llama-70B",
        },
    ),
    (
        "Mistral-Nemo-Instruct-2407",
        "mistralai/Mistral-Nemo-Instruct-2407",
        {},
        {
            "openrouter": "mistralai/mistral-nemo",
            "open_llm": "mistralai_Mistral-Nemo-Instruct-2407_bfloat16",
            "ugi": "mistralai/Mistral-Nemo-Instruct-2407",
        },
    ),
    (
        "StarCoder2-15B",
        "bigcode/starcoder2-15b",
        {},
        {"open_llm": "bigcode_starcoder2-15b_bfloat16", "bigcodebench": "StarCoder2-15B", "evalplus": "StarCoder2-15B"},
    ),
    (
        "Mixtral-8x7B-Instruct-v0.1",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        {},
        {
            "open_llm": "mistralai_Mixtral-8x7B-Instruct-v0.1_bfloat16",
            "evalplus": "Mixtral-8x7B-Instruct-v0.1",
            "ugi": "mistralai/Mixtral-8x7B-Instruct-v0.1",
        },
    ),
    (
        "OpenCoder-8B-Instruct",
        "infly/OpenCoder-8B-Instruct",
        {},
        {
            "bigcodebench": "OpenCoder-8B-Instruct",
            "evalplus": "OpenCoder-8B-Instruct",
            "ugi": "infly/OpenCoder-8B-Instruct",
        },
    ),
    (
        "Llama 3.1 70B Instruct",
        "meta-llama/Meta-Llama-3.1-70B-Instruct",
        {"lmarena": "Meta-Llama-3.1-70B-Instruct"},
        {
            "artificial_analysis": "llama-3-1-instruct-70b",
            "artificial_analysis_pro": "llama-3-1-instruct-70b",
            "openrouter": "meta-llama/llama-3.1-70b-instruct",
            "lmarena": "Meta-Llama-3.1-70B-Instruct",
            "huggingface": "meta-llama/Meta-Llama-3.1-70B-Instruct",
            "huggingface_config": "meta-llama/Meta-Llama-3.1-70B-Instruct",
        },
    ),
    (
        "GLM-4.6",
        "zai-org/GLM-4.6",
        {"artificial_analysis": "glm-4-6-reasoning", "artificial_analysis_pro": "glm-4-6-reasoning"},
        {
            "artificial_analysis": "glm-4-6-reasoning",
            "artificial_analysis_pro": "glm-4-6-reasoning",
            "openrouter": "z-ai/glm-4.6",
            "livebench": "glm-4.6",
            "huggingface": "zai-org/GLM-4.6",
            "huggingface_config": "zai-org/GLM-4.6",
        },
    ),
    ("glm-4.7", None, {}, {"livebench": "glm-4.7"}),
    ("deepseek-v3.2", None, {"artificial_analysis": False}, {"livebench": "deepseek-v3.2"}),
    (
        "Claude 3.5 Haiku",
        None,
        {},
        {"artificial_analysis": "claude-3-5-haiku", "lmarena": "Claude 3.5 Haiku (20241022)"},
    ),
    ("Qwen2-VL-7B-Instruct", "Qwen/Qwen2-VL-7B-Instruct", {}, {"open_vlm": "Qwen2-VL-7B-Instruct"}),
    ("Qwen3 30B A3B (Reasoning)", None, {}, {"artificial_analysis": "qwen3-30b-a3b-instruct-reasoning"}),
    # the sources of issue 11: LLM Stats (developer-reported), Arena-Hard, WildBench, MT-bench, BFCL,
    # Aider, SWE-bench bash-only; ids found here by exact id, exact display name or Hugging Face link
    (
        "DeepSeek-R1",
        "deepseek-ai/DeepSeek-R1",
        # LLM Stats: DeepSeek-R1 and -0528 share the weights link; Aider: "DeepSeek R1" and "(0528)"
        {"llm_stats": "deepseek-r1", "aider": "DeepSeek R1"},
        {"llm_stats": "deepseek-r1", "aider": "DeepSeek R1", "mt_bench": "deepseek-r1"},
    ),
    (
        "Qwen3-32B",
        "Qwen/Qwen3-32B",
        {},
        {
            "llm_stats": "qwen3-32b",
            "aider": "Qwen3 32B",
            "bfcl": "Qwen3-32B (FC)",
            "huggingface": "Qwen/Qwen3-32B",
            "huggingface_config": "Qwen/Qwen3-32B",
        },
    ),
    ("Qwen3-235B-A22B", "Qwen/Qwen3-235B-A22B", {}, {"llm_stats": "qwen3-235b-a22b", "mt_bench": "qwen3-235b-a22b"}),
    # .eval_results files (real); their model_info is constructed with only the siblings listing them
    (
        "gemma-4-12B-it",
        "google/gemma-4-12B-it",
        {"huggingface_config": False},
        {"huggingface": "google/gemma-4-12B-it", "hf_eval_results": "google/gemma-4-12B-it"},
    ),
    (
        "Ternary-Bonsai-27B-gguf",
        "prism-ml/Ternary-Bonsai-27B-gguf",
        {"huggingface_config": False},
        {"huggingface": "prism-ml/Ternary-Bonsai-27B-gguf", "hf_eval_results": "prism-ml/Ternary-Bonsai-27B-gguf"},
    ),
    (
        "Llama 3.1 8B Instruct",
        "meta-llama/Llama-3.1-8B-Instruct",
        {"huggingface": False, "huggingface_config": False},  # its recorded files are not in the cassettes
        {
            "llm_stats": "llama-3.1-8b-instruct",
            "arena_hard": "llama-3.1-8b-instruct",
        },
    ),
    (
        "Llama 3.1 405B Instruct",
        "meta-llama/Llama-3.1-405B-Instruct",
        {},
        {"llm_stats": "llama-3.1-405b-instruct", "arena_hard": "llama-3.1-405b-instruct"},
    ),
    (
        "claude-3-5-sonnet-20241022",
        None,
        {"llm_stats": "claude-3-5-sonnet-20241022"},
        {"llm_stats": "claude-3-5-sonnet-20241022", "aider": "claude-3-5-sonnet-20241022"},
    ),
    (
        "claude-3-5-sonnet-20240620",
        None,
        {"llm_stats": "claude-3-5-sonnet-20240620"},
        {"arena_hard": "claude-3-5-sonnet-20240620", "wildbench": "claude-3-5-sonnet-20240620"},
    ),
    (
        "claude-opus-4-5-20251101",
        None,
        {},
        {"bfcl": "Claude-Opus-4-5-20251101 (FC)", "swe_bench": "20251124_mini-v1.16.0_claude-opus-4-5-20251101"},
    ),
    ("Claude Sonnet 4", None, {}, {"llm_stats": "claude-sonnet-4-20250514"}),
    (
        "gpt-4o-2024-08-06",
        None,
        {"llm_stats": "gpt-4o-2024-08-06"},
        {"aider": "gpt-4o-2024-08-06", "mt_bench": "gpt-4o-2024-08-06", "llm_stats": "gpt-4o-2024-08-06"},
    ),
    (
        "gpt-4o-2024-05-13",
        None,
        {"llm_stats": "gpt-4o-2024-05-13"},
        {"arena_hard": "gpt-4o-2024-05-13", "wildbench": "gpt-4o-2024-05-13", "mt_bench": "gpt-4o-2024-05-13"},
    ),
    ("GPT-4.1", None, {}, {"llm_stats": "gpt-4.1-2025-04-14", "aider": "gpt-4.1"}),
    (
        "gemini-2.0-flash",
        None,
        {},
        {"llm_stats": "gemini-2.0-flash", "swe_bench": "20250726_mini-v1.0.0_gemini-2.0-flash"},
    ),
    ("gemini-2.5-pro", None, {}, {"llm_stats": "gemini-2.5-pro", "swe_bench": "20250726_mini-v1.0.0_gemini-2.5-pro"}),
    (
        "gpt-oss-120b",
        "openai/gpt-oss-120b",
        {"aider": "gpt-oss-120b (high)"},  # an effort, not a date: only a pin takes it (the user's choice)
        {
            "llm_stats": "gpt-oss-120b",
            "aider": "gpt-oss-120b (high)",
            "swe_bench": "20250807_mini-v1.7.0_gpt-oss-120b",
            "huggingface": "openai/gpt-oss-120b",
            "huggingface_config": "openai/gpt-oss-120b",
        },
    ),
    (
        "Kimi-K2-Instruct",
        "moonshotai/Kimi-K2-Instruct",
        {},
        {
            "llm_stats": "kimi-k2-instruct",
            "bfcl": "Moonshotai-Kimi-K2-Instruct (FC)",
            "swe_bench": "20250807_mini-v1.7.0_kimi-k2-instruct",
        },
    ),
    (
        "Mistral-Small-24B-Instruct-2501",
        "mistralai/Mistral-Small-24B-Instruct-2501",
        {},
        {"llm_stats": "mistral-small-24b-instruct-2501", "mt_bench": "mistral-small-24b-instruct-2501"},
    ),
    ("Jamba 1.5 Large", None, {}, {"llm_stats": "jamba-1.5-large"}),
    (
        "Qwen2-72B-Instruct",
        "Qwen/Qwen2-72B-Instruct",
        {},
        {
            "llm_stats": "qwen2-72b-instruct",
            "arena_hard": "qwen2-72b-instruct",
            "mt_bench": "qwen2-72b-instruct",
            "wildbench": "Qwen2-72B-Instruct",
        },
    ),
    (
        "Meta-Llama-3-70B-Instruct",
        "meta-llama/Meta-Llama-3-70B-Instruct",
        {},
        {"wildbench": "Meta-Llama-3-70B-Instruct"},
    ),
    ("DeepSeek-V2.5", "deepseek-ai/DeepSeek-V2.5", {}, {"llm_stats": "deepseek-v2.5", "mt_bench": "deepseek-v2.5"}),
    ("Llama 3.2 90B Instruct", None, {}, {"llm_stats": "llama-3.2-90b-instruct"}),
    ("o3-mini", None, {}, {"llm_stats": "o3-mini"}),
    (
        "gemma-3-1b-it",
        "google/gemma-3-1b-it",
        {"huggingface_config": False},  # gated (manual): metadata 200, config.json not recorded
        {"llm_stats": "gemma-3-1b-it", "huggingface": "google/gemma-3-1b-it"},
    ),
    ("GLM-4.5", "zai-org/GLM-4.5", {}, {"llm_stats": "glm-4.5", "swe_bench": "20250822_mini-v1.9.1_glm-4.5"}),
    (
        "Qwen3-Next-80B-A3B-Instruct",
        "Qwen/Qwen3-Next-80B-A3B-Instruct",
        {},
        {
            "llm_stats": "qwen3-next-80b-a3b-instruct",
            "huggingface": "Qwen/Qwen3-Next-80B-A3B-Instruct",
            "huggingface_config": "Qwen/Qwen3-Next-80B-A3B-Instruct",
        },
    ),
]


def test_every_mapped_pair_has_an_expectation():
    mapped = {(s, f, c.source) for s, f, cands in load_mappings().fields() for c in cands}
    assert mapped == set(EXPECTED)


@pytest.fixture(scope="module")
def staged(warm_store, tmp_path_factory):
    store = tmp_path_factory.mktemp("fields") / "etl.sqlite"
    store.write_bytes(warm_store.read_bytes())
    config = PipelineConfig.from_dict(
        {"cache_path": str(store), "sources": {"artificial_analysis_pro": {"enabled": True}}}
    )
    config.offline = True
    pipeline = Pipeline(config)
    # Hugging Face responses are recorded for a few repos only: the others are pinned out of it
    no_hf = {"huggingface": False, "huggingface_config": False}
    models = [
        ModelInfo(name, hf_id=hf, ids={**({} if "huggingface" in expect else no_hf), **pins})
        for name, hf, pins, expect in REFERENCE
    ]
    pipeline.transform(models)
    return {name: pipeline.store.staged(name) for name, *_ in REFERENCE}, pipeline.store.matches_by_model(
        [m.name for m in models]
    )


def test_reference_set_is_big_enough():
    assert len(REFERENCE) >= 40


@pytest.mark.parametrize("reference", REFERENCE, ids=lambda r: r[0])
def test_reference_model_matches_and_values_equal_raw_after_transform(reference, staged, raw):
    name, _, _, expect = reference
    rows, matches = staged[0][name], staged[1][name]
    found = {m["source"]: m["entry_id"] for m in matches if m["status"] == "matched"}
    for source, entry in expect.items():
        assert found.get(source) == entry, (source, found.get(source))
    checked = 0
    for row in rows:
        key = (row["section"], row["field"], row["source"])
        entry = raw[row["source"]][row["entry_id"]]
        if row["source"] == "llm_stats":
            expected = _llm_stats(entry, row)
        else:
            expected = EXPECTED[key](entry, datetime.fromisoformat(row["fetched_at"]), raw)
            # the one refusal outside LLM Stats: an index page of another version than 4.1 (or none)
            page = row["context"] if isinstance(row["context"], dict) else json.loads(row["context"] or "{}")
            other_index = row["field"] == "artificial_analysis" and str(page.get("intelligence_index_version")) != "4.1"
            assert bool(row["rejected"]) == other_index, row
        assert row["value"] == expected, (key, row["value"], expected)
        checked += 1
    published = {(r["section"], r["field"]) for r in rows if not r["rejected"]}
    filled = {(r["section"], r["field"]) for r in rows if r["chosen"]}
    REPORT.append(f"{name:<32} {len(filled):>2}/{len(published):<2} ({checked} values checked against the raw data)")
    assert filled == published


def test_every_pair_is_exercised_by_the_reference_set(staged):
    seen = {(r["section"], r["field"], r["source"]) for rows in staged[0].values() for r in rows}
    assert seen == set(EXPECTED)


def test_pro_values_come_first_and_the_free_route_fills_what_pro_lacks(staged):
    rows = {(r["field"], r["source"]): r for r in staged[0]["Llama 3.1 70B Instruct"]}
    assert rows[("artificial_analysis", "artificial_analysis_pro")]["chosen"] == 1
    assert rows[("artificial_analysis", "artificial_analysis_pro")]["value"] == 13.1
    assert rows[("artificial_analysis", "artificial_analysis")]["chosen"] == 0
    assert rows[("artificial_analysis", "artificial_analysis")]["value"] == 6.8


def test_model_card_results_take_the_right_variant(staged):
    rows = {(r["field"], r["source"]): r["value"] for r in staged[0]["Qwen2.5 72B Instruct"]}
    assert rows[("GPQA diamond", "huggingface")] == 49.0  # not gpqa_main's 45.9
    assert rows[("ARC-C", "huggingface")] == 72.5  # a fraction on the card; not ARC-Easy's 91
    assert rows[("MMLU Pro", "huggingface")] == 71.1
    assert ("MATH", "huggingface") not in rows  # MATH-500 on the card is not MATH


def test_conflicts_beyond_tolerance_are_recorded_and_the_first_wins(staged):
    rows = {(r["field"], r["source"]): r for r in staged[0]["Llama 3.1 70B Instruct"]}
    # AA Pro (constructed) says 13.1, the free route 6.8: beyond the entity tolerance of 5
    assert rows[("artificial_analysis", "artificial_analysis_pro")]["conflict"] == 1
    assert rows[("artificial_analysis", "artificial_analysis")]["conflict"] == 1
    # context window: AA Pro 128000 vs OpenRouter 131072 (tolerance 0): a conflict, Pro wins
    assert rows[("context_window", "artificial_analysis_pro")]["value"] == 128000
    assert rows[("context_window", "openrouter")]["conflict"] == 1
    # prices agree (0.56 both ways? AA 0.56, OpenRouter 0.4): beyond 0.01, recorded
    assert rows[("input_price", "openrouter")]["conflict"] == 1
