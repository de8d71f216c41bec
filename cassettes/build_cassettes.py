"""Rebuild cassettes/*.yaml from the recorded payloads in ../shared/data (run from the repo root).

    python cassettes/build_cassettes.py [path/to/shared/data]

Every cassette says at its top which recorded file each response body comes from, and marks what is
constructed (no real sample exists: AA free pages 2-3 are reshaped from the retired route's real
entries; LMArena rows are the real CSV export reshaped into datasets-server pages; Hugging Face
entries other than OrionLLM/GRM-2.6-Opus and all config.json bodies are built from the documented
shapes with illustrative numbers; the AA Pro page is built from SOURCES.md). No key is in any of
them: requests carry no auth header.

Every response gets a ``Date`` header: the recording date of the file its body comes from (the
date in the file's name, or in shared/data/README.md's table; a month alone is its first day, a
range its first day unless said). ``etl cache import`` makes it the fetch time, so provenance and
the fetch-time-dependent ``hf_score`` are the same on every day the example is run.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path

from vcr.serializers import yamlserializer

ROOT = Path(__file__).resolve().parent
JSON_HEADERS = {"Content-Type": ["application/json; charset=utf-8"]}


#: what every cassette's header says about its Date headers
DATE_NOTE = "Each response's Date header is the recording date of its body's source file, set by build_cassettes.py."


def http_date(day: str) -> str:
    """'2026-06-27' -> 'Sat, 27 Jun 2026 00:00:00 GMT' (midnight UTC of the recording day)."""
    return format_datetime(datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC), usegmt=True)


def interaction(
    uri: str, body: object | str, status: int = 200, headers: dict | None = None, recorded: str | None = None
) -> dict:
    """One recorded GET; ``recorded`` (YYYY-MM-DD) overrides the cassette's date for this response."""
    text = body if isinstance(body, (str, bytes)) else json.dumps(body, ensure_ascii=False)
    headers = dict(headers or JSON_HEADERS)
    if recorded:
        headers["Date"] = [http_date(recorded)]
    return {
        "request": {"body": None, "headers": {"Accept": ["*/*"]}, "method": "GET", "uri": uri},
        "response": {
            "body": {"string": text},
            "headers": headers,
            "status": {
                "code": status,
                "message": {200: "OK", 404: "Not Found", 307: "Temporary Redirect"}.get(status, ""),
            },
        },
    }


def write(name: str, notes: list[str], interactions: list[dict], recorded: str) -> None:
    """Write a cassette; responses without their own Date get ``recorded`` (YYYY-MM-DD)."""
    for inter in interactions:
        inter["response"]["headers"].setdefault("Date", [http_date(recorded)])
    header = "".join(f"# {line}\n" for line in [*notes, DATE_NOTE])
    text = yamlserializer.serialize({"interactions": interactions, "version": 1})
    (ROOT / name).write_text(header + text, encoding="utf-8")
    print(f"wrote cassettes/{name}: {len(interactions)} interaction(s)")


def aa_free(data: Path) -> None:
    page1 = json.loads((data / "artificial_analysis/language_models_free.page1.2026-06-27.json").read_text())
    legacy = json.loads((data / "artificial_analysis/legacy_data_llms_models.2026-02-27.json").read_text())["data"]
    seen = {e["id"] for e in page1["data"]}
    rest = []
    for e in legacy:
        if e["id"] in seen:
            continue
        ev = e.get("evaluations") or {}
        pr = e.get("pricing") or {}
        rest.append(
            {
                "id": e["id"],
                "name": e["name"],
                "slug": e["slug"],
                "release_date": e.get("release_date"),
                "model_creator": {k: (e.get("model_creator") or {}).get(k) for k in ("id", "name")},
                "evaluations": {
                    "artificial_analysis_intelligence_index": ev.get("artificial_analysis_intelligence_index"),
                    "artificial_analysis_coding_index": ev.get("artificial_analysis_coding_index"),
                    "artificial_analysis_agentic_index": None,
                },
                "artificial_analysis_intelligence_index_cost": None,
                "pricing": {
                    "price_1m_input_tokens": pr.get("price_1m_input_tokens"),
                    "price_1m_output_tokens": pr.get("price_1m_output_tokens"),
                    "price_1m_cache_hit_tokens": None,
                    "price_1m_cache_write_tokens": None,
                },
                "performance": {
                    "median_output_tokens_per_second": e.get("median_output_tokens_per_second"),
                    "median_time_to_first_token_seconds": e.get("median_time_to_first_token_seconds"),
                },
            }
        )
    pages = [rest[:200], rest[200:]]
    base = "https://artificialanalysis.ai/api/v2/language/models/free?page="
    inter = [interaction(base + "1", page1, recorded="2026-06-27")]
    for n, chunk in enumerate(pages, start=2):
        body = {
            "tier": "free",
            "intelligence_index_version": None,
            "pagination": {"page": n, "page_size": 200, "total_pages": 3, "has_more": n < 3},
            "data": chunk,
        }
        inter.append(interaction(base + str(n), body))
    write(
        "artificial_analysis_free.yaml",
        [
            "GET /api/v2/language/models/free, pages 1-3.",
            "page 1: REAL, unchanged: shared/data/artificial_analysis/language_models_free.page1.2026-06-27.json (2026-06-27).",
            "pages 2-3: CONSTRUCTED: the 262 real entries of shared/data/artificial_analysis/legacy_data_llms_models.2026-02-27.json",
            "(2026-02-27) that page 1 lacks, reshaped into the free-tier entry shape; their index values are the legacy route's",
            "(index version unknown, so intelligence_index_version is null). Response headers are not recorded (constructed).",
            "Date: page 1 2026-06-27; pages 2-3 2026-02-27 (the legacy file's date).",
        ],
        inter,
        recorded="2026-02-27",
    )


def openrouter(data: Path) -> None:
    body = (data / "boards/openrouter_api_v1_models.2026-08.json").read_text()
    write(
        "openrouter_models.yaml",
        [
            "GET https://openrouter.ai/api/v1/models: REAL body, unchanged: shared/data/boards/openrouter_api_v1_models.2026-08.json (2026-08).",
            "Response headers are not recorded (constructed). Date: 2026-08-01 (the file gives the month only).",
        ],
        [interaction("https://openrouter.ai/api/v1/models", body)],
        recorded="2026-08-01",
    )


def lmarena(data: Path) -> None:
    with open(data / "boards/lmarena_text.2025-08-04.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for _i, r in enumerate(rows):
        lo, hi = r["95_pct_ci"].split("/")
        score = float(r["arena_score"])
        out.append(
            {
                "model_name": r["model"],
                "organization": r["organization"],
                "rating": score,
                "rating_lower": score + float(hi),
                "rating_upper": score + float(lo.lstrip("+")),
                "vote_count": int(r["votes"]),
                "rank": int(r["rank"]),
                "category": "overall",
                "leaderboard_publish_date": "2025-08-04",
            }
        )
    features = [
        {
            "feature_idx": i,
            "name": k,
            "type": {"dtype": "string" if isinstance(v, str) else "float64", "_type": "Value"},
        }
        for i, (k, v) in enumerate(out[0].items())
    ]
    base = (
        "https://datasets-server.huggingface.co/rows?dataset=lmarena-ai%2Fleaderboard-dataset"
        "&config=text_style_control&split=latest&length=100&offset="
    )
    inter = []
    for offset in range(0, len(out), 100):
        page = [
            {"row_idx": offset + j, "row": row, "truncated_cells": []}
            for j, row in enumerate(out[offset : offset + 100])
        ]
        inter.append(
            interaction(
                base + str(offset),
                {
                    "features": features,
                    "rows": page,
                    "num_rows_total": len(out),
                    "num_rows_per_page": 100,
                    "partial": False,
                },
            )
        )
    write(
        "lmarena_rows.yaml",
        [
            "GET datasets-server /rows for lmarena-ai/leaderboard-dataset (text_style_control, latest), offsets 0, 100, 200.",
            "CONSTRUCTED envelope around REAL values: the rows are shared/data/boards/lmarena_text.2025-08-04.csv (2025-08-04),",
            "mapped model->model_name, arena_score->rating, votes->vote_count, 95_pct_ci->rating_lower/upper, category 'overall'.",
        ],
        inter,
        recorded="2025-08-04",
    )


#: Constructed Hugging Face entries: shapes from SOURCES.md, numbers illustrative (not recorded).
HF_CONSTRUCTED = {
    "meta-llama/Meta-Llama-3.1-70B-Instruct": dict(
        created="2024-07-16T13:42:34.000Z",
        downloads=41230,
        likes=812,
        params={"BF16": 70553706496},
        config={
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": 8192,
            "num_hidden_layers": 80,
            "num_attention_heads": 64,
            "max_position_embeddings": 131072,
        },
    ),
    "Qwen/Qwen2.5-72B-Instruct": dict(
        created="2024-09-16T11:55:40.000Z",
        downloads=152034,
        likes=873,
        params={"BF16": 72706203648},
        config={
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "hidden_size": 8192,
            "num_hidden_layers": 80,
            "max_position_embeddings": 32768,
        },
        # model-card results: dataset ids and metric shapes as the Hub documents them; some values as
        # fractions, some as percents (both occur on real cards); decoys of other variants that must not map
        model_index=[
            {
                "name": "Qwen2.5-72B-Instruct",
                "results": [
                    {
                        "task": {"type": "text-generation"},
                        "dataset": {"type": t, "name": t, **({"config": c} if c else {})},
                        "metrics": [{"type": m, "value": v}],
                    }
                    for t, c, m, v in [
                        ("cais/mmlu", None, "acc", 86.1),
                        ("TIGER-Lab/MMLU-Pro", None, "acc", 0.711),
                        ("Idavidrein/gpqa", "gpqa_diamond", "acc", 49.0),
                        ("Idavidrein/gpqa", "gpqa_main", "acc", 45.9),
                        ("Rowan/hellaswag", None, "acc_norm", 87.6),
                        ("allenai/ai2_arc", "ARC-Challenge", "acc", 0.725),
                        ("allenai/ai2_arc", "ARC-Easy", "acc", 91.0),
                        ("openai/gsm8k", None, "acc", 95.8),
                        ("openai/openai_humaneval", None, "pass@1", 86.6),
                        ("HuggingFaceH4/MATH-500", None, "acc", 83.1),
                    ]
                ],
            }
        ],
    ),
    "zai-org/GLM-4.6": dict(
        created="2025-09-29T16:00:00.000Z",
        downloads=58211,
        likes=1103,
        params={"BF16": 356785898496, "F32": 1925120},
        config={
            "architectures": ["Glm4MoeForCausalLM"],
            "model_type": "glm4_moe",
            "n_routed_experts": 160,
            "num_experts_per_tok": 8,
            "n_shared_experts": 1,
            "num_hidden_layers": 92,
        },
    ),
    "deepseek-ai/DeepSeek-V3": dict(
        created="2024-12-25T12:52:23.000Z",
        downloads=322000,
        likes=3950,
        params={"BF16": 3918786560, "F8_E4M3": 680571043840, "F32": 41555600},
        config={
            "architectures": ["DeepseekV3ForCausalLM"],
            "model_type": "deepseek_v3",
            "n_routed_experts": 256,
            "num_experts_per_tok": 8,
            "num_hidden_layers": 61,
        },
    ),
}


#: real model_info files (shared/data/huggingface/model_info_2025-09/<slug>.json) -> repo id
REAL_INFOS = {
    "qwen-qwen3-32b": "Qwen/Qwen3-32B",
    "openai-gpt-oss-120b": "openai/gpt-oss-120b",
    # gated (manual); Llama-3.1-8B-Instruct's file is left out: its license text says "authorization",
    # which the key-leak test forbids in any cassette
    "google-gemma-3-1b-it": "google/gemma-3-1b-it",
    "qwen-qwen2-5-7b-instruct": "Qwen/Qwen2.5-7B-Instruct",
    "qwen-qwen3-next-80b-a3b-instruct": "Qwen/Qwen3-Next-80B-A3B-Instruct",
    "deepseek-ai-deepseek-r1-distill-qwen-32b": "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
}
#: real config.json files (shared/data/huggingface/config_json/) -> repo id
REAL_CONFIGS = {
    "qwen-qwen3-32b": "Qwen/Qwen3-32B",
    "openai-gpt-oss-120b": "openai/gpt-oss-120b",
    "qwen-qwen2-5-7b-instruct": "Qwen/Qwen2.5-7B-Instruct",
    "qwen-qwen3-next-80b-a3b-instruct": "Qwen/Qwen3-Next-80B-A3B-Instruct",
    "deepseek-ai-deepseek-r1-distill-qwen-32b": "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
    "deepseek-ai--DeepSeek-V3": "deepseek-ai/DeepSeek-V3",
    "deepseek-ai--DeepSeek-R1": "deepseek-ai/DeepSeek-R1",
    "Qwen--Qwen3-235B-A22B": "Qwen/Qwen3-235B-A22B",
    "Qwen--Qwen3-30B-A3B": "Qwen/Qwen3-30B-A3B",
    "moonshotai--Kimi-K2-Instruct": "moonshotai/Kimi-K2-Instruct",
    "mistralai--Mixtral-8x7B-v0.1": "mistralai/Mixtral-8x7B-v0.1",
    "mistralai--Mixtral-8x22B-v0.1": "mistralai/Mixtral-8x22B-v0.1",
}


HF_CONFIG_NOTES = [
    "GET https://huggingface.co/{repo_id}/resolve/main/config.json.",
    "REAL, unchanged: shared/data/huggingface/config_json/<file>.config.json for the repos of REAL_CONFIGS in",
    "build_cassettes.py (DeepSeek-V3/-R1 n_routed_experts, Mixtral-8x7B/8x22B-v0.1 num_local_experts, Qwen3-235B-A22B,",
    "Qwen3-30B-A3B and Qwen3-Next num_experts, gpt-oss-120b num_local_experts with yarn rope_scaling, Kimi-K2, dense",
    "Qwen3-32B, Qwen2.5-7B-Instruct and R1-Distill-Qwen-32B; recorded 2025-09-21..23 and 2025-11-04).",
    "CONSTRUCTED (no real file of these repos): Meta-Llama-3.1-70B-Instruct, Qwen2.5-72B-Instruct, GLM-4.6 (shapes from",
    "SOURCES.md). The 404 mirrors Hugging Face's EntryNotFound.",
    "Date: real files 2025-09-21 (lower-case names, first day of 2025-09-21..23) or 2025-11-04 (<Org>--<Model> names);",
    "CONSTRUCTED ones and GRM's 404 2026-07-05 (the date of the real GRM model_info).",
]


def _real_huggingface(data: Path) -> tuple[list[dict], list[dict]]:
    """Recorded model_info and config.json bodies, unchanged (the text as recorded)."""
    hf = data / "huggingface"
    infos = [
        interaction(
            f"https://huggingface.co/api/models/{repo}",
            (hf / "model_info_2025-09" / f"{slug}.json").read_text(),
            recorded="2025-09-21",
        )
        for slug, repo in REAL_INFOS.items()
    ]
    configs = [
        interaction(
            f"https://huggingface.co/{repo}/resolve/main/config.json",
            (hf / "config_json" / f"{slug}.config.json").read_text(),
            recorded="2025-11-04" if "--" in slug else "2025-09-21",  # the two batches of README's table
        )
        for slug, repo in REAL_CONFIGS.items()
    ]
    return infos, configs


def _eval_result_infos(data: Path) -> list[dict]:
    """Constructed model_info of the repos whose .eval_results files are recorded: `siblings` only."""
    out = []
    for model, repo in EVAL_RESULT_REPOS.items():
        files = sorted(
            p.stem.split("__", 1)[1] for p in (data / "huggingface" / "eval_results").glob(f"{model}__*.yaml")
        )
        entry = {
            "id": repo,
            "siblings": [{"rfilename": f".eval_results/{name}.yaml"} for name in files] + [{"rfilename": "README.md"}],
        }
        out.append(interaction(f"https://huggingface.co/api/models/{repo}", entry, recorded=EVAL_RESULTS_DATE))
    return out


def huggingface(data: Path) -> None:
    inter = []
    real = json.loads((data / "huggingface/model_info__OrionLLM__GRM-2.6-Opus__2026-07-05.json").read_text())
    inter.append(interaction("https://huggingface.co/api/models/OrionLLM/GRM-2.6-Opus", real, recorded="2026-07-05"))
    configs = []
    for repo, c in HF_CONSTRUCTED.items():
        author = repo.split("/")[0]
        entry = {
            "_id": "constructed",
            "id": repo,
            "author": author,
            "sha": "0" * 40,
            "createdAt": c["created"],
            "lastModified": "2025-12-01T00:00:00.000Z",
            "private": False,
            "gated": "manual" if author == "meta-llama" else False,
            "disabled": False,
            "downloads": c["downloads"],
            "likes": c["likes"],
            "library_name": "transformers",
            "pipeline_tag": "text-generation",
            "tags": ["transformers", "safetensors", "text-generation", "conversational"],
            "config": {},
            "cardData": {"license": "other", **({"model-index": c["model_index"]} if "model_index" in c else {})},
            "siblings": [{"rfilename": "config.json"}, {"rfilename": "README.md"}],
            "safetensors": {"parameters": c["params"], "total": sum(c["params"].values())},
        }
        inter.append(interaction(f"https://huggingface.co/api/models/{repo}", entry))
        configs.append(interaction(f"https://huggingface.co/{repo}/resolve/main/config.json", c["config"]))
    real_infos, real_configs = _real_huggingface(data)
    inter += real_infos + _eval_result_infos(data)
    # the same repo's real config.json replaces the constructed one (same case: n_routed_experts)
    configs = [c for c in configs if "deepseek-ai/DeepSeek-V3/" not in c["request"]["uri"]] + real_configs
    missing = {"error": "Entry not found"}
    configs.append(
        interaction(
            "https://huggingface.co/OrionLLM/GRM-2.6-Opus/resolve/main/config.json",
            missing,
            404,
            {"Content-Type": ["application/json"], "X-Error-Code": ["EntryNotFound"]},
        )
    )
    write(
        "huggingface_models.yaml",
        [
            "GET https://huggingface.co/api/models/{repo_id}.",
            "OrionLLM/GRM-2.6-Opus: REAL, unchanged: shared/data/huggingface/model_info__OrionLLM__GRM-2.6-Opus__2026-07-05.json (2026-07-05).",
            "REAL, unchanged (byte-exact, 2025-09-21..23): shared/data/huggingface/model_info_2025-09/<slug>.json for",
            f"{', '.join(REAL_INFOS)}: safetensors totals, packed U8 (gpt-oss), a gated repo (gemma-3-1b-it), MoE A3B.",
            "The other repos (Meta-Llama-3.1-70B-Instruct, Qwen2.5-72B-Instruct, GLM-4.6, DeepSeek-V3): CONSTRUCTED from the",
            "shapes in SOURCES.md (default key set, config {}); downloads, likes, dates and safetensors counts are illustrative,",
            "not recorded; no real model_info of these repos exists here (Qwen2.5-72B-Instruct carries the only model-index).",
            "Date: GRM 2026-07-05; model_info_2025-09 files 2025-09-21 (first day of 2025-09-21..23); CONSTRUCTED ones 2026-07-05",
            "(the date of the real GRM file, so hf_score is computed on a fixed day).",
            f"{', '.join(EVAL_RESULT_REPOS.values())}: CONSTRUCTED, only `id` and the `siblings` that list their recorded",
            ".eval_results files (hf_eval_results.yaml); no real model_info of them is recorded, and nothing else is",
            "invented (no downloads, likes or safetensors: no hf_score or parameter count from them). Date 2026-07-31, as",
            "their eval files.",
        ],
        inter,
        recorded="2026-07-05",
    )
    write("huggingface_config.yaml", HF_CONFIG_NOTES, configs, recorded="2026-07-05")


def aa_pro() -> None:
    body = {
        "tier": "pro",
        "intelligence_index_version": 4.1,
        "pagination": {"page": 1, "page_size": 200, "total_pages": 1, "has_more": False},
        "data": [
            {
                "id": "c2b1c4f4-0000-4000-8000-000000000001",
                "name": "Llama 3.1 Instruct 70B",
                "slug": "llama-3-1-instruct-70b",
                "release_date": "2024-07-23",
                "model_creator": {"id": "meta", "name": "Meta"},
                "reasoning_model": False,
                "context_window_tokens": 128000,
                "parameters": {"total": 70.6, "active": 70.6},
                "huggingface_url": "https://huggingface.co/meta-llama/Meta-Llama-3.1-70B-Instruct",
                "openrouter_api_id": "meta-llama/llama-3.1-70b-instruct",
                "licensing": {"is_open_weights": True},
                "modalities": {"input": ["text"], "output": ["text"]},
                "evaluations": {
                    "artificial_analysis_intelligence_index": 13.1,
                    "gpqa_diamond": 0.409,
                    "hle": 0.046,
                    "scicode": 0.267,
                },
                "pricing": {
                    "price_1m_input_tokens": 0.56,
                    "price_1m_output_tokens": 0.56,
                    "price_1m_blended_3_to_1": 0.56,
                },
            },
            {
                "id": "c2b1c4f4-0000-4000-8000-000000000002",
                "name": "GLM-4.6 (Reasoning)",
                "slug": "glm-4-6-reasoning",
                "release_date": "2025-09-30",
                "model_creator": {"id": "zai", "name": "Z AI"},
                "reasoning_model": True,
                "context_window_tokens": 200000,
                "parameters": {"total": 357, "active": 32},
                "huggingface_url": "https://huggingface.co/zai-org/GLM-4.6",
                "openrouter_api_id": "z-ai/glm-4.6",
                "evaluations": {
                    "artificial_analysis_intelligence_index": 32.5,
                    "gpqa_diamond": 0.78,
                    "hle": 0.133,
                    "scicode": 0.384,
                },
                "pricing": {
                    "price_1m_input_tokens": 0.575,
                    "price_1m_output_tokens": 2.2,
                    "price_1m_blended_3_to_1": 0.981,
                },
            },
        ],
    }
    write(
        "artificial_analysis_pro.yaml",
        [
            "GET /api/v2/language/models?page=1 (Pro tier): CONSTRUCTED from the shapes in SOURCES.md; no real Pro payload exists here.",
            "Index values and prices copied from the retired route's real entries for the same models; parameters, context windows",
            "and per-benchmark fractions are illustrative. Used by tests only (the Pro source is off by default).",
            "Date: 2026-02-27, the date of the legacy file its values are copied from.",
        ],
        [interaction("https://artificialanalysis.ai/api/v2/language/models?page=1", body)],
        recorded="2026-02-27",
    )


def redirect(data: Path) -> None:
    text = (data / "huggingface/recorded_cassette_with_307_redirect.yaml").read_text()
    (ROOT / "huggingface_redirect_307.yaml").write_text(
        "# REAL, unchanged: shared/data/huggingface/recorded_cassette_with_307_redirect.yaml (2025-01-22): a 307 from the renamed\n"
        "# repo bert-base-uncased to google-bert/bert-base-uncased, with full response headers.\n" + text
    )
    print("wrote cassettes/huggingface_redirect_307.yaml")


def boards(data: Path) -> None:
    b = data / "boards"
    write(
        "livebench.yaml",
        [
            "LiveBench table and categories: REAL, unchanged: shared/data/boards/livebench_table_2026_01_08.csv and",
            "livebench_categories_2026_01_08.json (2026-01-08). Response headers are not recorded (constructed).",
        ],
        [
            interaction(
                "https://livebench.ai/table_2026_01_08.csv",
                (b / "livebench_table_2026_01_08.csv").read_text(),
                headers={"Content-Type": ["text/csv"]},
            ),
            interaction(
                "https://livebench.ai/categories_2026_01_08.json",
                (b / "livebench_categories_2026_01_08.json").read_text(),
            ),
        ],
        recorded="2026-01-08",
    )
    write(
        "bigcodebench.yaml",
        [
            "https://bigcode-bench.github.io/results.json: REAL body, unchanged: shared/data/boards/bigcodebench_results.2025-04.json (2025-04-17)."
        ],
        [
            interaction(
                "https://bigcode-bench.github.io/results.json", (b / "bigcodebench_results.2025-04.json").read_text()
            )
        ],
        recorded="2025-04-17",
    )
    write(
        "evalplus.yaml",
        [
            "https://evalplus.github.io/results.json: REAL body, unchanged: shared/data/boards/evalplus_results.2024-12.json (2024-12-26)."
        ],
        [interaction("https://evalplus.github.io/results.json", (b / "evalplus_results.2024-12.json").read_text())],
        recorded="2024-12-26",
    )
    with open(b / "open_llm_leaderboard_v2.2025-03-21.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for r in rows:
        out.append(
            {
                "eval_name": f"{r['model_name'].replace('/', '_')}_{r['model_precision']}",
                "Precision": r["model_precision"],
                "fullname": r["model_name"],
                "Average ⬆️": float(r["model_average_score"]),
                "IFEval": float(r["evaluations_ifeval_normalized_score"]),
                "IFEval Raw": float(r["evaluations_ifeval_value"]),
                "BBH": float(r["evaluations_bbh_normalized_score"]),
                "MATH Lvl 5": float(r["evaluations_math_normalized_score"]),
                "GPQA": float(r["evaluations_gpqa_normalized_score"]),
                "MUSR": float(r["evaluations_musr_normalized_score"]),
                "MMLU-PRO": float(r["evaluations_mmlu_pro_normalized_score"]),
                "Architecture": r["model_architecture"],
                "#Params (B)": float(r["metadata_params_billions"]) if r["metadata_params_billions"] else None,
                "MoE": r["features_is_moe"] == "TRUE",
                "Flagged": r["features_is_flagged"] == "TRUE",
            }
        )
    base = (
        "https://datasets-server.huggingface.co/rows?dataset=open-llm-leaderboard%2Fcontents"
        "&config=default&split=train&length=100&offset="
    )
    write(
        "open_llm.yaml",
        [
            "datasets-server /rows for open-llm-leaderboard/contents: CONSTRUCTED envelope and column names (as the dataset",
            "names them) around REAL values: shared/data/boards/open_llm_leaderboard_v2.2025-03-21.csv (2025-03-21), flattened",
            "from the leaderboard's API; normalized 0-100 scores, model_name -> fullname, params -> '#Params (B)'.",
        ],
        [
            interaction(
                base + str(o),
                {
                    "rows": [
                        {"row_idx": o + j, "row": row, "truncated_cells": []} for j, row in enumerate(out[o : o + 100])
                    ],
                    "num_rows_total": len(out),
                    "num_rows_per_page": 100,
                    "partial": False,
                },
            )
            for o in range(0, len(out), 100)
        ],
        recorded="2025-03-21",
    )
    ugi = json.loads((b / "ugi_derived.2025-06.json").read_text())["data"]
    lines = ["author/model_name,UGI 🏆,W/10 👍,NatInt 💡,Ideology"]
    for e in ugi:
        name = e["model"].replace('"', "")
        cells = [
            f'"{name}"',
            *("NA" if e.get(k) is None else str(e[k]) for k in ("ugi", "w10")),
            "NA",
            e.get("ideology") or "NA",
        ]
        lines.append(",".join(cells))
    write(
        "ugi.yaml",
        [
            "UGI leaderboard CSV: CONSTRUCTED from REAL values: shared/data/boards/ugi_derived.2025-06.json (2025-06-23), which keeps",
            "only model, UGI, W/10 and ideology; written as the live CSV is (UTF-8 with BOM, emoji column names, NA for missing;",
            "NatInt is NA throughout because the derived file lacks it).",
        ],
        [
            interaction(
                "https://huggingface.co/spaces/DontPlanToEnd/UGI-Leaderboard/resolve/main/ugi-leaderboard-data.csv",
                "\ufeff" + "\n".join(lines) + "\n",
                headers={"Content-Type": ["text/csv; charset=utf-8"]},
            )
        ],
        recorded="2025-06-23",
    )
    open_vlm()


def open_vlm() -> None:
    """No real sample is small enough to keep: constructed, with the real file's dataset keys."""
    vlm = {
        "time": "constructed",
        "results": {
            "Qwen2-VL-7B-Instruct": {
                "META": {
                    "Method": ["Qwen2-VL-7B-Instruct", "https://huggingface.co/Qwen/Qwen2-VL-7B-Instruct"],
                    "Parameters": "8B",
                    "Language Model": "Qwen2-7B",
                    "Vision Model": "ViT-600M",
                    "OpenSource": "Yes",
                },
                "MMBench_TEST_EN_V11": {"Overall": 80.5},
                "MMBench_TEST_CN_V11": {"Overall": 78.8},
                "MMStar": {"Overall": 60.7},
                "MMMU_VAL": {"Overall": 53.7},
                "MathVista": {"Overall": 61.4},
                "OCRBench": {"Final Score": 843},
                "AI2D": {"Overall": 83.0},
                "HallusionBench": {"Overall": 50.4},
                "MMVet": {"Overall": 61.8},
                "MME": {"Overall": 2326.8},
            },
            "InternVL2-8B": {
                "META": {
                    "Method": ["InternVL2-8B", "https://huggingface.co/OpenGVLab/InternVL2-8B"],
                    "Parameters": "8B",
                    "OpenSource": "Yes",
                },
                "MMBench_TEST_EN_V11": {"Overall": 79.4},
                "MMStar": {"Overall": 61.5},
                "MMMU_VAL": {"Overall": 51.2},
                "MathVista": {"Overall": 58.3},
                "OCRBench": {"Final Score": 794},
                "AI2D": {"Overall": 83.6},
                "HallusionBench": {"Overall": "N/A"},
                "MMVet": {"Overall": 54.3},
            },
        },
    }
    write(
        "open_vlm.yaml",
        [
            "http://opencompass.openxlab.space/assets/OpenVLM.json: CONSTRUCTED (the real file is 6.6 MB and not in shared/data)",
            "with the REAL dataset keys of its 2025-09-17 copy as SOURCES.md lists them (MathVista, AI2D, MMBench_TEST_EN_V11, ...;",
            'OCRBench\'s `Final Score` 0-1000, MME a sum, "N/A" strings); two models, illustrative scores. InternVL2-8B lacks',
            "MMBench_TEST_CN_V11 and has HallusionBench N/A: no Open VLM average for it.",
            "Date: 2025-09-17, the date of the real copy whose keys it uses.",
        ],
        [interaction("http://opencompass.openxlab.space/assets/OpenVLM.json", vlm)],
        recorded="2025-09-17",
    )


def new_boards(data: Path) -> None:
    """The sources of issue 11: real files, unchanged unless said."""
    b = data / "boards"
    text = lambda name: (b / name).read_text(encoding="utf-8")  # noqa: E731
    csv_headers = {"Content-Type": ["text/csv; charset=utf-8"]}
    singles = [
        (
            "arena_hard.yaml",
            "https://raw.githubusercontent.com/lmarena/arena-hard-auto/main/leaderboard/arena_hard_leaderboard_20240731.csv",
            "arena_hard_auto_v0.1.2024-07-31.csv",
            "2024-07-31",
            csv_headers,
        ),
        (
            "wildbench.yaml",
            "https://raw.githubusercontent.com/allenai/WildBench/main/leaderboard/data_dir/all_stat_wildbench.-1.json",
            "wildbench_all_stat.-1.2024-08.json",
            "2024-08-01",
            None,
        ),
        (
            "mt_bench.yaml",
            "https://huggingface.co/spaces/lmarena-ai/chatbot-arena-leaderboard/resolve/main/leaderboard_table_20250511.csv",
            "lmsys_leaderboard_table_20250511.csv",
            "2025-05-11",
            csv_headers,
        ),
        (
            "bfcl.yaml",
            "https://gorilla.cs.berkeley.edu/data_overall.csv",
            "bfcl_data_overall.2025-12-16.csv",
            "2025-12-16",
            csv_headers,
        ),
        (
            "aider.yaml",
            "https://raw.githubusercontent.com/Aider-AI/aider/main/aider/website/_data/polyglot_leaderboard.yml",
            "aider_polyglot_leaderboard.2025-10.yml",
            "2025-10-04",
            {"Content-Type": ["text/plain; charset=utf-8"]},
        ),
    ]
    for cassette, url, name, day, headers in singles:
        write(
            cassette,
            [
                f"{url}: REAL body, unchanged: shared/data/boards/{name} ({day}). Response headers are not recorded (constructed)."
            ],
            [interaction(url, text(name), headers=headers)],
            recorded=day,
        )
    swe_bench_and_llm_stats(b)


def swe_bench_and_llm_stats(b: Path) -> None:
    """The two that are not a file served as is: a trimmed board, and a binary archive."""
    board = json.loads((b / "swebench_leaderboards.2025-12-10.json").read_text(encoding="utf-8"))
    bash_only = [x for x in board["leaderboards"] if x["name"] == "bash-only"]
    for row in bash_only[0]["results"]:
        row.pop("per_instance_details", None)
    write(
        "swe_bench.yaml",
        [
            "https://raw.githubusercontent.com/SWE-bench/swe-bench.github.io/master/data/leaderboards.json: REAL, TRIMMED:",
            "shared/data/boards/swebench_leaderboards.2025-12-10.json (2025-12-10, 4 MB): only the `bash-only` board is kept",
            "(the other boards rank agent systems and are not read), and each row's `per_instance_details` (500 per-task",
            "outcomes) is dropped; every other key and value is unchanged. CC BY-NC 4.0.",
        ],
        [
            interaction(
                "https://raw.githubusercontent.com/SWE-bench/swe-bench.github.io/master/data/leaderboards.json",
                {"leaderboards": bash_only},
            )
        ],
        recorded="2025-12-10",
    )
    archive = (b / "llm_stats_llm-leaderboard.24a9ccf7.2025-10-16.tar.gz").read_bytes()
    write(
        "llm_stats.yaml",
        [
            "GET https://codeload.github.com/JonathanChavezTamales/llm-leaderboard/tar.gz/24a9ccf7402306f0c3e237213538e4537d64ecc2:",
            "REAL archive, unchanged (binary body): shared/data/boards/llm_stats_llm-leaderboard.24a9ccf7.2025-10-16.tar.gz",
            "(2025-10-16; `git archive` of the pinned commit, the same files codeload serves). CC BY 4.0.",
        ],
        [
            interaction(
                "https://codeload.github.com/JonathanChavezTamales/llm-leaderboard/tar.gz/24a9ccf7402306f0c3e237213538e4537d64ecc2",
                archive,
                headers={"Content-Type": ["application/x-gzip"]},
            )
        ],
        recorded="2025-10-16",
    )


#: recorded .eval_results files: shared/data/huggingface/eval_results/<model>__<name>.yaml -> repo id
EVAL_RESULTS_DATE = "2026-07-31"  # README: 2026-06..07, no day; the end of it (one row is dated 2026-07-18)
EVAL_RESULT_REPOS = {
    "gemma-4-12B-it": "google/gemma-4-12B-it",
    "Ternary-Bonsai-27B-gguf": "prism-ml/Ternary-Bonsai-27B-gguf",
}


def hf_eval_results(data: Path) -> None:
    """The Hub's per-model `.eval_results/*.yaml` files (for the lead's per-file engine; draft mapping)."""
    inter = []
    for path in sorted((data / "huggingface" / "eval_results").glob("*.yaml")):
        model, name = path.stem.split("__", 1)
        url = f"https://huggingface.co/{EVAL_RESULT_REPOS[model]}/resolve/main/.eval_results/{name}.yaml"
        inter.append(
            interaction(url, path.read_text(encoding="utf-8"), headers={"Content-Type": ["text/plain; charset=utf-8"]})
        )
    write(
        "hf_eval_results.yaml",
        [
            "GET https://huggingface.co/{repo}/resolve/main/.eval_results/{name}.yaml: REAL bodies, unchanged:",
            "shared/data/huggingface/eval_results/<model>__<name>.yaml (2026-06..07; clones of the Hub repos' history).",
            "The file names in the repos are taken from the recorded names (<name>); response headers are constructed.",
            "Date: 2026-07-31, the end of README's 2026-06..07 (no day is recorded; one row is dated 2026-07-18).",
        ],
        inter,
        recorded=EVAL_RESULTS_DATE,
    )


if __name__ == "__main__":
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent.parent / "shared" / "data"
    aa_free(shared)
    openrouter(shared)
    lmarena(shared)
    huggingface(shared)
    aa_pro()
    redirect(shared)
    boards(shared)
    new_boards(shared)
    hf_eval_results(shared)
