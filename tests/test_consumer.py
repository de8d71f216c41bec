"""The consumer's contract (LLMScoreEngine), values entered by hand, param_count units, and the
context window from config.json.

LLMScoreEngine's acceptance rules are restated here from its code (in the LLMScoreEngine repository:
model_scoring/data/validators.py, core/constants.py, config/scoring_config.py) as `_lse_rejects`, an
encoding independent of our schema file, so the verdict is checked against the rules in both
directions rather than against itself.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from replay import CASSETTES
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from etl.declared.mappings import load_mappings
from etl.declared.transforms import Context, context_window, evaluate, in_param_count_unit, param_count
from etl.declared.values import MANUAL_SOURCE, load_values
from etl.errors import UsageError
from etl.results.consumer import Status, verdict
from etl.results.todo import todo_skeleton

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = Path(__file__).resolve().parent / "fixtures" / "config_json"
REQUIRED_SPECS = ("input_price", "output_price", "context_window", "param_count", "architecture")


def _lse_rejects(data: dict) -> str | None:
    """LLMScoreEngine's validate_model_data, restated from its rules: the first reason it rejects."""
    template = json.loads((ROOT / "examples" / "templates" / "template.json").read_text())
    for section in ("entity_benchmarks", "dev_benchmarks", "community_score", "model_specs"):
        if not isinstance(data.get(section), dict):
            return f"section {section}"
    for section in ("entity_benchmarks", "dev_benchmarks"):
        for key in template[section]:
            if key not in data[section]:
                return f"missing {section}.{key}"
            value = data[section][key]
            if value is not None and not (isinstance(value, int | float) and 0 <= value <= 100):
                return f"{section}.{key} out of 0..100"
    for key in REQUIRED_SPECS:
        value = data["model_specs"].get(key)
        if key == "architecture":
            if not isinstance(value, str) or not value.strip():
                return "architecture"
        elif not isinstance(value, int | float) or value <= 0:
            return f"model_specs.{key}"
    for key, (low, high) in {"lm_sys_arena_score": (1000, 1500), "hf_score": (0, 10)}.items():
        if key not in data["community_score"]:
            return f"missing community_score.{key}"
        value = data["community_score"][key]
        if value is not None and not (isinstance(value, int | float) and low <= value <= high):
            return f"community_score.{key} out of range"
    return None


@pytest.fixture
def scoreable() -> dict:
    """The bundled template with the values DeepSeek V3 gets from the example's sources."""
    data = json.loads((ROOT / "examples" / "templates" / "template.json").read_text())
    data["model_specs"].update(
        input_price=0.4, output_price=0.89, context_window=163840, param_count=684531386000, architecture="moe"
    )
    data["community_score"].update(lm_sys_arena_score=1333, hf_score=8.51)
    data["entity_benchmarks"]["big_code_bench"] = 50.0
    data["dev_benchmarks"]["MMLU"] = 88.5
    return data


def test_a_complete_file_is_scoreable(scoreable):
    result = verdict(scoreable)
    assert result.status is Status.SCOREABLE and result.scoreable
    assert result.reasons == [] and result.blocking == []
    assert _lse_rejects(scoreable) is None


@pytest.mark.parametrize(
    ("section", "key", "value", "reason"),
    [
        *[
            ("model_specs", k, None, f"model_specs.{k}: missing (LLMScoreEngine requires a number > 0)")
            for k in REQUIRED_SPECS[:4]
        ],
        (
            "model_specs",
            "architecture",
            None,
            "model_specs.architecture: missing (LLMScoreEngine requires a non-empty string)",
        ),
        (
            "model_specs",
            "architecture",
            " ",
            "model_specs.architecture: empty (LLMScoreEngine requires a non-empty string)",
        ),
        (
            "model_specs",
            "input_price",
            0,
            "model_specs.input_price: 0 is out of range (LLMScoreEngine requires a number > 0)",
        ),
        (
            "model_specs",
            "output_price",
            0,
            "model_specs.output_price: 0 is out of range (LLMScoreEngine requires a number > 0)",
        ),
        (
            "model_specs",
            "context_window",
            "128k",
            'model_specs.context_window: "128k" is not accepted (LLMScoreEngine requires a number > 0)',
        ),
        (
            "community_score",
            "lm_sys_arena_score",
            999,
            "community_score.lm_sys_arena_score: 999 is out of range (LLMScoreEngine requires null or a number from 1000 to 1500)",
        ),
        (
            "community_score",
            "lm_sys_arena_score",
            1501,
            "community_score.lm_sys_arena_score: 1501 is out of range (LLMScoreEngine requires null or a number from 1000 to 1500)",
        ),
        (
            "community_score",
            "hf_score",
            11,
            "community_score.hf_score: 11 is out of range (LLMScoreEngine requires null or a number from 0 to 10)",
        ),
        (
            "dev_benchmarks",
            "MMLU",
            101,
            "dev_benchmarks.MMLU: 101 is out of range (LLMScoreEngine requires null or a number from 0 to 100)",
        ),
        (
            "entity_benchmarks",
            "open_llm",
            -1,
            "entity_benchmarks.open_llm: -1 is out of range (LLMScoreEngine requires null or a number from 0 to 100)",
        ),
    ],
)
def test_each_rejection_rule_gives_its_reason(scoreable, section, key, value, reason):
    data = copy.deepcopy(scoreable)
    data[section][key] = value
    result = verdict(data)
    assert result.status is Status.NOT_SCOREABLE and not result.scoreable
    assert result.reasons == [reason]
    assert result.blocking == [f"{section}.{key}"]
    assert _lse_rejects(data) is not None  # the consumer's own rules reject it too


def test_absent_keys_and_sections_are_reasons(scoreable):
    data = copy.deepcopy(scoreable)
    del data["dev_benchmarks"]["AIME"], data["model_specs"]["param_count"], data["community_score"]
    assert verdict(data).reasons == [
        "community_score: missing (LLMScoreEngine requires the section, an object)",
        "dev_benchmarks.AIME: missing (LLMScoreEngine requires null or a number from 0 to 100)",
        "model_specs.param_count: missing (LLMScoreEngine requires a number > 0)",
    ]
    assert _lse_rejects(data) is not None


@pytest.mark.parametrize("case", range(40))
def test_verdict_agrees_with_the_consumer_rules_both_ways(scoreable, case):
    """Crafted files, a few breaking several rules at once: scoreable exactly when the consumer accepts."""
    data = copy.deepcopy(scoreable)
    edits = [
        ("community_score", "lm_sys_arena_score", [None, 840, 1000, 1500, 1500.5]),
        ("community_score", "hf_score", [None, 0, 10, 10.01]),
        ("model_specs", "input_price", [0.01, 0, None]),
        ("model_specs", "context_window", [4096, None, -1]),
        ("model_specs", "param_count", [684.53, 684531386000, None]),
        ("dev_benchmarks", "GPQA diamond", [None, 0, 100, 100.1]),
    ]
    for i, (section, key, options) in enumerate(edits):
        data[section][key] = options[(case // (i + 1)) % len(options)]
    result = verdict(data)
    assert result.scoreable == (_lse_rejects(data) is None), (result.reasons, _lse_rejects(data))
    assert len(result.reasons) == len(result.blocking)


def test_billions_are_accepted_but_not_what_the_scorer_counts(scoreable):
    """684.53 passes the consumer's validator (a number > 0): the unit setting, not the verdict, is
    what keeps DeepSeek-V3 out of the '< 3B' size tier (its tiers compare param_count < 3_000_000_000)."""
    data = copy.deepcopy(scoreable)
    data["model_specs"]["param_count"] = 684.53
    assert verdict(data).scoreable and _lse_rejects(data) is None
    assert 684.53 < 3_000_000_000 <= 684531386000


# ----- param_count units ---------------------------------------------------------------------------


def _cassette_bodies(name: str) -> list:
    _, responses = FilesystemPersister.load_cassette(str(CASSETTES / name), yamlserializer)
    out = []
    for response in responses:
        text = response["body"]["string"]
        text = text.decode() if isinstance(text, bytes) else text
        try:
            out.append(json.loads(text))
        except ValueError:
            continue
    return out


@pytest.fixture(scope="module")
def deepseek_entries() -> dict:
    """DeepSeek-V3 as Hugging Face (safetensors total 684531386000, the value public recordings of the
    Hub's API show) and BigCodeBench (size 671, billions) publish it, from the cassettes."""
    hf = next(b for b in _cassette_bodies("huggingface_models.yaml") if b.get("id") == "deepseek-ai/DeepSeek-V3")
    bigcode = next(b for b in _cassette_bodies("bigcodebench.yaml") if isinstance(b, dict) and "DeepSeek-V3" in b)
    return {"huggingface": hf, "bigcodebench": bigcode["DeepSeek-V3"]}


@pytest.mark.parametrize(("unit", "hf", "bigcode"), [("count", 684531386000, 671000000000), ("billions", 684.53, 671)])
def test_param_count_follows_the_unit_and_the_conflict_stays(deepseek_entries, unit, hf, bigcode):
    mappings = load_mappings()
    cands = {c.source: c for c in mappings.sections["model_specs"]["param_count"]}
    ctx = Context(param_count_unit=unit)
    got = {s: evaluate(cands[s], deepseek_entries[s], ctx)[1] for s in ("huggingface", "bigcodebench")}
    assert got == {"huggingface": hf, "bigcodebench": bigcode}
    assert type(got["huggingface"]) is (int if unit == "count" else float)
    tolerance = in_param_count_unit(mappings.tolerances[("model_specs", "param_count")], unit)
    assert tolerance == (1_000_000_000 if unit == "count" else 1)
    assert abs(got["huggingface"] - got["bigcodebench"]) > tolerance  # 13.53 B apart: a conflict in both units
    assert abs(got["bigcodebench"] - param_count(671.5, ctx)) <= tolerance  # half a billion apart: none


def test_param_count_defaults_to_a_raw_count():
    assert param_count(7.62) == 7_620_000_000
    assert param_count(7.62, Context(param_count_unit="billions")) == 7.62
    assert param_count("70553706496") == 70553706496
    assert param_count(0) is None and param_count(-3) is None


# ----- context_window from config.json -------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("deepseek-ai--DeepSeek-V3", 163840),  # yarn `type`: 40 x 4096
        ("moonshotai--Kimi-K2-Instruct", 131072),  # yarn `type`: 32 x 4096
        ("openai-gpt-oss-120b", 131072),  # yarn `rope_type`: 32 x 4096
        ("meta-llama--Meta-Llama-3.1-70B", 131072),  # llama3 scaling is not yarn: max_position_embeddings
        ("mistralai--Mixtral-8x7B-v0.1", 32768),  # no rope_scaling
        ("qwen-qwen3-32b", 40960),  # the card's optional yarn 131072 is not in config.json
    ],
)
def test_context_window_from_real_config_files(file, expected):
    config = json.loads((CONFIGS / f"{file}.config.json").read_text())
    assert context_window(config) == expected
    cand = next(
        c for c in load_mappings().sections["model_specs"]["context_window"] if c.source == "huggingface_config"
    )
    raw, value = evaluate(cand, config)
    assert value == expected
    assert raw["max_position_embeddings"] == config["max_position_embeddings"]  # provenance: what was read


def test_context_window_comes_after_the_providers_advertised_context():
    sources = [c.source for c in load_mappings().sections["model_specs"]["context_window"]]
    assert sources.index("huggingface_config") > sources.index("openrouter")


def test_context_window_without_evidence_is_null():
    assert context_window({"error": "Entry not found"}) is None
    assert context_window({"max_position_embeddings": 0}) is None
    yarn_without_length = {"max_position_embeddings": 8192, "rope_scaling": {"type": "yarn", "factor": 4}}
    assert context_window(yarn_without_length) == 8192


# ----- values entered by hand ----------------------------------------------------------------------

MODELS = ["Claude 3.5 Haiku", "DeepSeek V3", "Acme Internal 7B"]


def _values(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_values_file_is_read_with_its_citations(tmp_path):
    path = _values(
        tmp_path,
        "models:\n"
        "  Claude 3.5 Haiku:\n"
        '    model_specs.context_window: {value: 200000, source: "https://docs.anthropic.com/x", note: "table"}\n'
        "    model_specs.param_count: null\n"
        "  DeepSeek V3:\n"
        "    community_score.lm_sys_arena_score: {value: null, source: LMArena snapshot note}\n",
    )
    loaded = load_values(path, MODELS)
    assert loaded.precedence == "first" and loaded.rank(3) == -1
    assert [(v.model, v.section, v.field, v.value, v.source, v.note, v.line) for v in loaded.values] == [
        ("Claude 3.5 Haiku", "model_specs", "context_window", 200000, "https://docs.anthropic.com/x", "table", 3),
        ("DeepSeek V3", "community_score", "lm_sys_arena_score", None, "LMArena snapshot note", None, 6),
    ]
    row = loaded.values[0].as_row(loaded.rank(2))
    assert row["source"] == MANUAL_SOURCE and row["url"] == "https://docs.anthropic.com/x"
    assert row["path"] == f"{path}:3" and row["rank"] == -1 and row["context"] == {"note": "table"}


def test_precedence_last_puts_manual_values_after_the_sources(tmp_path):
    loaded = load_values(_values(tmp_path, "precedence: last\nmodels: {}\n"), MODELS)
    assert loaded.precedence == "last" and loaded.rank(3) == 3 and loaded.values == []


def test_bad_values_file_lists_every_problem_with_its_place_and_fix(tmp_path):
    path = _values(
        tmp_path,
        "models:\n"
        "  Claud 3.5 Haiku:\n"
        "    model_specs.context_window: {value: 200000, source: x}\n"
        "  DeepSeek V3:\n"
        "    model_specs.contxt_window: {value: 1, source: x}\n"
        '    model_specs.context_window: {value: "128k", source: x}\n'
        "    model_specs.input_price: {value: 0.27}\n"
        "    model_specs.param_count: {value: 671, source: x}\n"
        "    model_specs.architecture: {value: sparse, source: x}\n",
    )
    with pytest.raises(UsageError) as exc:
        load_values(path, MODELS)
    assert exc.value.exit_code == 2
    p = str(path)
    assert exc.value.problems == [
        f"{p}: models.Claud 3.5 Haiku (line 2): unknown model 'Claud 3.5 Haiku' (not in the config): "
        "did you mean 'Claude 3.5 Haiku'? valid: Acme Internal 7B, Claude 3.5 Haiku, DeepSeek V3",
        f"{p}: models.DeepSeek V3.model_specs.contxt_window (line 5): unknown field 'model_specs.contxt_window': "
        "did you mean 'model_specs.context_window'? valid: model_specs.architecture, model_specs.context_window, "
        "model_specs.input_price, model_specs.output_price, model_specs.param_count",
        f'{p}: models.DeepSeek V3.model_specs.context_window (line 6): expected integer, got str "128k"; '
        "fix the value (schemas/model.schema.json, model_specs.context_window)",
        f"{p}: models.DeepSeek V3.model_specs.input_price (line 7): missing key: 'source'; "
        "add `source:` with the URL or citation the value comes from (required)",
        f"{p}: models.DeepSeek V3.model_specs.param_count (line 8): 671 looks like billions, but param_count_unit "
        "is count; write the raw count (671000000000) or set `param_count_unit: billions` in the config",
        f'{p}: models.DeepSeek V3.model_specs.architecture (line 9): "sparse" is not allowed: valid: "moe", "dense"; '
        "fix the value (schemas/model.schema.json, model_specs.architecture)",
    ]


def test_values_file_structure_problems(tmp_path):
    path = _values(tmp_path, "precedence: middle\nmodel: {}\n")
    with pytest.raises(UsageError) as exc:
        load_values(path, MODELS)
    assert exc.value.problems == [
        f"{path}: (top level): unknown key 'model': did you mean 'models'? valid: models, precedence",
        f"{path}: precedence: 'middle' is not allowed: valid: first, last",
    ]
    with pytest.raises(UsageError) as exc:
        load_values(tmp_path / "nope.yaml", MODELS)
    assert exc.value.problems == [
        f"{tmp_path / 'nope.yaml'}: values file not found; create it (`etl todo -c CONFIG --write "
        f"{tmp_path / 'nope.yaml'}` writes a skeleton) or fix `values_file` in the config"
    ]


def test_billions_unit_reads_a_raw_count_in_billions(tmp_path):
    path = _values(tmp_path, "models:\n  DeepSeek V3:\n    model_specs.param_count: {value: 684531386000, source: x}\n")
    assert load_values(path, MODELS, param_count_unit="billions").values[0].value == 684.53
    assert load_values(path, MODELS).values[0].value == 684531386000


# ----- etl todo: the skeleton --------------------------------------------------------------------------


def test_todo_skeleton_lists_blocking_fields_and_keeps_decisions(tmp_path):
    existing = _values(
        tmp_path,
        "precedence: last\n"
        "models:\n"
        "  Claude 3.5 Haiku:\n"
        "    model_specs.context_window: {value: 200000, source: 'https://docs.anthropic.com/x', note: table}\n"
        "    model_specs.architecture: null\n"
        "  Gone Model:\n"
        "    model_specs.input_price: {value: 1.5, source: vendor}\n",
    )
    blocking = {
        "Claude 3.5 Haiku": [
            ("model_specs.context_window", ["openrouter: unmatched"]),
            ("model_specs.param_count", ["artificial_analysis: not published", "huggingface: skipped (no hf_id)"]),
        ],
        "Acme Internal 7B": [("model_specs.input_price", [])],
        "DeepSeek V3": [],
    }
    text = todo_skeleton(existing, blocking)
    assert text.splitlines()[3:] == [
        "precedence: last",
        "models:",
        '  "Acme Internal 7B":',
        "    # tried: no source publishes this field",
        "    model_specs.input_price: null",
        '  "Claude 3.5 Haiku":',
        '    model_specs.context_window: {value: 200000, source: "https://docs.anthropic.com/x", note: "table"}',
        "    # tried: artificial_analysis: not published; huggingface: skipped (no hf_id)",
        "    model_specs.param_count: null",
        '  "Gone Model":',
        '    model_specs.input_price: {value: 1.5, source: "vendor"}',
    ]
    written = _values(tmp_path, text)
    models = [*MODELS, "Gone Model"]
    assert [(v.model, v.field) for v in load_values(written, models).values] == [
        ("Claude 3.5 Haiku", "context_window"),
        ("Gone Model", "input_price"),
    ]
    assert todo_skeleton(written, blocking) == text  # writing it again changes nothing


def test_todo_skeleton_keeps_tiny_prices_numbers(tmp_path):
    existing = _values(tmp_path, "models:\n  DeepSeek V3:\n    model_specs.input_price: {value: 2.0e-07, source: x}\n")
    text = todo_skeleton(existing, {})
    assert 'model_specs.input_price: {value: 2.0e-07, source: "x"}' in text
    assert load_values(_values(tmp_path, text), MODELS).values[0].value == 2e-07


def test_todo_skeleton_without_a_file_starts_with_first_precedence():
    text = todo_skeleton(None, {"Claude 3.5 Haiku": [("dev_benchmarks.Humanity's Last Exam", [])]})
    assert "precedence: first\n" in text
    assert '    "dev_benchmarks.Humanity\'s Last Exam": null\n' in text


def test_the_bundled_values_file_is_valid_for_the_example():
    import yaml

    config = yaml.safe_load((ROOT / "examples" / "config.yaml").read_text())
    names = [m if isinstance(m, str) else m["name"] for m in config["models"]]
    loaded = load_values(ROOT / "examples" / "values.yaml", names)
    assert [(v.model, v.field, v.value) for v in loaded.values] == [
        ("Llama 3.1 70B Instruct", "RULER 32K", 94.8),
        ("Llama 3.1 70B Instruct", "RULER 128K", 66.6),
        ("Claude 3.5 Haiku", "context_window", 200000),
        ("gpt-oss-120b", "param_count", 117000000000),
    ]
    assert all(v.source.startswith("https://") for v in loaded.values)


def _rules(node, path=()):
    """Every (place, rule) of a schema's `properties`, recursively (refs left as they are)."""
    for key, rule in node.get("properties", {}).items():
        yield (*path, key), rule
        yield from _rules(rule, (*path, key))


def test_every_consumer_rule_says_its_reason_and_requirement():
    schema = json.loads((ROOT / "schemas" / "llmscoreengine.schema.json").read_text())
    assert schema["x-consumer"] == "LLMScoreEngine"
    rules = list(_rules(schema))
    assert len(rules) == 4 + 10 + 39 + 2 + 5
    for where, rule in rules:
        target = schema["$defs"]["benchmark"] if rule.get("$ref") == "#/$defs/benchmark" else rule
        assert "LLMScoreEngine" in target["description"], where
        assert target["x-requirement"], where


def test_every_values_file_key_is_described_with_an_example():
    schema = json.loads((ROOT / "schemas" / "values.schema.json").read_text())
    nodes = [*(r for _, r in _rules(schema)), *(r for _, r in _rules(schema["$defs"]["entry"]))]
    for rule in nodes:
        assert rule["description"] and rule["examples"], rule


@pytest.mark.parametrize(
    ("emptied", "thin"),
    [
        (("dev_benchmarks", "community_score"), ["no dev benchmark", "no community score"]),
        (("dev_benchmarks",), ["no dev benchmark"]),
        (("community_score",), ["no community score"]),
        ((), []),
    ],
)
def test_a_file_without_dev_benchmarks_or_community_score_is_scoreable_but_thin(scoreable, emptied, thin):
    """LLMScoreEngine scores such a file on price and size alone (Mixtral 8x7B: 12.38); its README
    asks for at least one of each: the verdict says so, and the file is still accepted."""
    for section in emptied:
        scoreable[section] = dict.fromkeys(scoreable[section])
    result = verdict(scoreable)
    assert _lse_rejects(scoreable) is None and result.scoreable
    assert result.thin == thin
    assert result.status is (Status.THIN if thin else Status.SCOREABLE)
    if len(thin) == 2:
        assert result.label == "scoreable, thin: no dev benchmark, no community score"
