"""The closed transform vocabulary of the mapping files, and the few named ``compute`` rules.

Arithmetic is decimal (via ``str``), so a per-token price of "0.00000045" x 1e6 is 0.45, not
0.44999999999999996. A value that cannot be transformed yields None (the next candidate is tried);
nothing here guesses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .. import settings
from .mappings import Candidate
from .paths import first_value
from .rows import ambiguity, describe_row, found_rows, refusal, select_rows

#: config.json keys whose value > 1 marks a mixture-of-experts model.
EXPERT_KEYS = ("num_local_experts", "n_routed_experts", "num_experts", "moe_num_experts")
#: safetensors dtypes that pack several parameters in one element: the count is wrong there.
PACKED_DTYPES = ("U8", "U32", "I32", "U4", "I8")
#: Above this, a parameter count is a raw count, below it billions (no model has 100k B params).
RAW_COUNT_THRESHOLD = 100_000
#: ``param_count_unit`` -> parameters per unit. LLMScoreEngine's size tiers compare raw counts
#: (``param_count < 3_000_000_000``), so a count is the default; billions only when a user asks.
PARAM_COUNT_UNITS: dict[str, int] = {"count": 1, "billions": 1_000_000_000}
DEFAULT_PARAM_COUNT_UNIT = settings.DEFAULT_PARAM_COUNT_UNIT
#: ``rope_scaling`` types whose window is factor x original_max_position_embeddings (vLLM's rule).
YARN_TYPES = ("yarn",)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)


def _is_null(raw: Any, null_if: tuple[Any, ...]) -> bool:
    for marker in null_if:
        if raw == marker or str(raw) == str(marker):
            return True
        a, b = _decimal(raw), _decimal(marker)
        if a is not None and b is not None and a == b:
            return True
    return False


def apply(candidate: Candidate, raw: Any) -> Any:
    """Run a candidate's transforms on a raw value (or a compute result)."""
    if raw is None or _is_null(raw, candidate.null_if):
        return None
    value = raw
    if candidate.map is not None:
        value = candidate.map.get(str(value).lower() if isinstance(value, bool) else str(value), value)
    if candidate.type == "string":
        return str(value)
    numeric = (
        candidate.type in ("number", "integer")
        or candidate.percent_if_fraction
        or any(getattr(candidate, k) is not None for k in ("scale", "divide", "round"))
    )
    if not numeric:
        return value
    if isinstance(value, str) and candidate.type is None:
        return None  # a string where a number is due, and no `type: number` to parse it
    if isinstance(value, str) and value.strip().endswith("%"):
        value = value.strip()[:-1]  # "77.47%" is 77.47 on the 0-100 scale the contract uses
    number = _decimal(value)
    if number is None:
        return None
    if candidate.percent_if_fraction and abs(number) <= 1:
        number *= 100
    if candidate.scale is not None:
        number *= Decimal(str(candidate.scale))
    if candidate.divide is not None:
        number /= Decimal(str(candidate.divide))
    if candidate.round is not None:
        number = round(number, candidate.round)
    if candidate.type == "integer":
        return int(number) if number == number.to_integral_value() else None
    return _number(number)


@dataclass
class Context:
    """What a compute rule may use besides its input: the fetch time and the companion documents."""

    now: datetime | None = None
    companions: dict[str, Any] = field(default_factory=dict)
    #: a key of PARAM_COUNT_UNITS, from the config's ``param_count_unit``
    param_count_unit: str = DEFAULT_PARAM_COUNT_UNIT


def hf_score(doc: dict[str, Any], ctx: Context | None = None) -> float | None:
    """DESIGN.md's 0-10 score: downloads part + likes part + age part, rounded to 2 places."""
    downloads, likes, created = doc.get("downloads"), doc.get("likes"), doc.get("createdAt")
    if downloads is None or likes is None or not created:
        return None
    try:
        created_at = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return None
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    now = (ctx.now if ctx else None) or datetime.now(UTC)
    d_part = 0.0 if downloads < 10 else min(max(0.2007 * math.log2(downloads) - 0.6667, 0), 4)
    l_part = 0.0 if likes < 3 else min(max(0.477 * math.log2(likes) - 0.756, 0), 4)
    months = max((now - created_at).total_seconds() / 86400 / 30.437, 0)
    if months < 1:
        age = 0.5 * months
    elif months < 3:
        age = 0.5 + 0.5 * (months - 1)
    elif months <= 12:
        age = 1.5 + (0.5 / 9) * (months - 3)
    else:
        age = 1.5
    return round(d_part + l_part + min(max(age, 0), 2), 2)


def architecture(doc: dict[str, Any], _ctx: Context | None = None) -> str | None:
    """'moe' or 'dense' from evidence only: config.json expert keys, or active < total parameters."""
    for key in EXPERT_KEYS:
        value = doc.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 1:
            return "moe"
    params = doc.get("parameters")
    if isinstance(params, dict) and params.get("total") and params.get("active"):
        return "moe" if params["active"] < params["total"] else "dense"
    if "model_type" in doc or "architectures" in doc:  # a real config.json with no expert key
        return "dense"
    return None


def param_count(value: Any, ctx: Context | None = None) -> int | float | None:
    """Total parameters in the configured unit (a raw count by default, as LLMScoreEngine's size
    tiers compare), from a number in either unit or a Hugging Face entry's safetensors block."""
    if isinstance(value, dict):
        safetensors = value.get("safetensors") or {}
        dtypes = safetensors.get("parameters") or {}
        if any(d in dtypes for d in PACKED_DTYPES):
            return None
        value = safetensors.get("total")
    number = _decimal(value)
    if number is None or number <= 0:
        return None
    count = number if number > RAW_COUNT_THRESHOLD else number * PARAM_COUNT_UNITS["billions"]
    unit = ctx.param_count_unit if ctx else DEFAULT_PARAM_COUNT_UNIT
    if unit == "count":
        return int(count.to_integral_value())
    return _number(round(count / PARAM_COUNT_UNITS[unit], 2))


def in_param_count_unit(count: float, unit: str = DEFAULT_PARAM_COUNT_UNIT) -> float:
    """A raw count (e.g. a tolerance declared in counts) expressed in ``unit``."""
    return count / PARAM_COUNT_UNITS[unit]


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def context_window(doc: dict[str, Any], _ctx: Context | None = None) -> int | None:
    """The window the published config.json serves: ``max_position_embeddings``, or, when the config
    itself declares yarn ``rope_scaling``, factor x ``original_max_position_embeddings`` (the length
    vLLM derives). A yarn extension a model card only suggests is not in config.json: not applied."""
    if not isinstance(doc, dict):
        return None
    config = doc.get("text_config") if "max_position_embeddings" not in doc else doc
    if not isinstance(config, dict):
        return None
    window = _positive_int(config.get("max_position_embeddings"))
    scaling = config.get("rope_scaling")
    if isinstance(scaling, dict) and (scaling.get("rope_type") or scaling.get("type")) in YARN_TYPES:
        factor = _decimal(scaling.get("factor"))
        original = _positive_int(scaling.get("original_max_position_embeddings"))
        if factor is not None and factor > 0 and original is not None:
            return int((factor * original).to_integral_value())
    return window


#: names that say mixture-of-experts: "8x7B" (experts x size), "A3B" (active parameters)
MOE_NAME = re.compile(r"(?<![a-z0-9])(\d+x\d+(\.\d+)?b|a\d+(\.\d+)?b)(?![a-z0-9])", re.I)


def architecture_from_name(name: Any, _ctx: Context | None = None) -> str | None:
    """Last resort, and labelled so in provenance: only 'moe' from a name that says so; a name that
    does not is no evidence of 'dense'."""
    return "moe" if isinstance(name, str) and MOE_NAME.search(name) else None


def livebench_overall(row: dict[str, Any], ctx: Context | None = None) -> float | None:
    """LiveBench's overall: the mean of the category means, each the mean of its tasks. Null unless
    every task of every category has a number (a partial mean would not be LiveBench's score)."""
    categories = (ctx.companions if ctx else {}).get("categories")
    if not isinstance(categories, dict) or not categories or not isinstance(row, dict):
        return None
    means = []
    for tasks in categories.values():
        values = [_decimal(row.get(task)) for task in tasks]
        if not values or any(v is None for v in values):
            return None
        means.append(sum(values) / len(values))
    return _number(sum(means) / len(means))


#: the Open VLM leaderboard's DEFAULT_BENCH (open_vlm_leaderboard meta_data.py): its default "Avg Score"
OPEN_VLM_DEFAULT = ("MMBench_V11", "MMStar", "MMMU_VAL", "MathVista", "OCRBench", "AI2D", "HallusionBench", "MMVet")


def _open_vlm_score(entry: dict[str, Any], dataset: str) -> Decimal | None:
    if dataset == "MMBench_V11" and "MMBench_V11" not in entry:
        parts = [_open_vlm_score(entry, d) for d in ("MMBench_TEST_EN_V11", "MMBench_TEST_CN_V11")]
        return None if None in parts else sum(parts) / 2
    block = entry.get(dataset)
    if not isinstance(block, dict):
        return None
    if dataset == "OCRBench":
        score = _decimal(block.get("Final Score"))
        return None if score is None else score / 10
    return _decimal(block.get("Overall"))


def open_vlm_overall(entry: dict[str, Any], _ctx: Context | None = None) -> float | None:
    """The Open VLM leaderboard's default "Avg Score": the mean, rounded to 1 decimal, of the 8
    DEFAULT_BENCH datasets (MMBench v1.1, MMStar, MMMU val, MathVista testmini, OCRBench, AI2D,
    HallusionBench, MMVet), each normalised to 0-100: `Overall`, except OCRBench's `Final Score`
    (0-1000) divided by 10 (gen_table.py of the leaderboard Space). MMBench_V11 is read as such
    when the entry has it, else as the mean of MMBench_TEST_EN_V11 and MMBench_TEST_CN_V11 (the
    JSON file carries those two; assumed to be how the page derives its MMBench v1.1 column).
    Null when any of the 8 is missing or "N/A": the page then shows no Avg Score either."""
    if not isinstance(entry, dict):
        return None
    scores = [_open_vlm_score(entry, d) for d in OPEN_VLM_DEFAULT]
    if any(s is None for s in scores):
        return None
    return _number(round(sum(scores) / len(scores), 1))


COMPUTES: dict[str, Callable[..., Any]] = {
    "hf_score": hf_score,
    "architecture": architecture,
    "param_count": param_count,
    "livebench_overall": livebench_overall,
    "architecture_from_name": architecture_from_name,
    "context_window": context_window,
    "open_vlm_overall": open_vlm_overall,
}


def evaluate(candidate: Candidate, entry: Any, ctx: Context | None = None) -> tuple[Any, Any]:
    """(raw, value) for one candidate against the entry matched for the model."""
    if candidate.provenance and candidate.expr is not None:
        return _with_provenance(candidate, entry)
    raw = first_value(candidate.expr, entry) if candidate.expr is not None else None
    if candidate.compute:
        source = raw if candidate.expr is not None else entry
        if source is None:
            return raw, None
        computed = COMPUTES[candidate.compute](source, ctx)
        return (raw if candidate.expr is not None else _compute_inputs(candidate.compute, entry)), apply(
            candidate, computed
        )
    return raw, apply(candidate, raw)


def judge(
    cand: Candidate,
    entry: Any,
    ctx: Context | None = None,
    page: dict[str, Any] | None = None,
    means: tuple[str, str] | None = None,
) -> tuple[Any, Any, str | None]:
    """(raw, value, refused) for one candidate: every row its path finds is checked against the
    declared evidence and the field's version (``means``: the version and where it is declared);
    of the rows left, one distinct value is the value, several are ambiguous unless ``select``
    picks one. Refused and ambiguous values come back with the reason, never as the value."""
    page = page or {}
    if cand.expr is None or cand.compute:
        raw, value = evaluate(cand, entry, ctx)
        return raw, value, None if value is None else refusal(cand.evidence, cand.version, means, entry, page)
    rows = found_rows(cand.expr, entry)
    if not rows:
        return None, None, None
    keys = cand.provenance
    for row in rows:
        row.refused = refusal(cand.evidence, cand.version, means, row.parent, page)
    good = [row for row in rows if row.refused is None]
    if not good:
        first = rows[0]
        more = f" ({len(rows)} rows, none stated)" if len(rows) > 1 else ""
        raw = describe_row(first, keys) if keys else first.value
        return raw, apply(cand, first.value), f"{first.refused}{more}"
    distinct = _distinct(cand, good)
    if len(distinct) > 1:
        distinct = _distinct(cand, select_rows(good, cand.select)) if cand.select else distinct
        if len(distinct) != 1:
            shown = [(value, describe_row(row, keys)) for value, row in _distinct(cand, good).values()]
            return [d for _, d in shown], None, ambiguity(shown, cand.where, cand.select)
    if not distinct:
        return (describe_row(good[0], keys) if keys else good[0].value), None, None
    value, row = next(iter(distinct.values()))
    return (describe_row(row, keys) if keys else row.value), value, None


def _distinct(cand: Candidate, rows: list) -> dict[str, tuple[Any, Any]]:
    """Transformed value -> (value, its first row), for the rows that yield one."""
    out: dict[str, tuple[Any, Any]] = {}
    for row in rows:
        value = apply(cand, row.value)
        if value is not None:
            out.setdefault(repr(value), (value, row))
    return out


def _with_provenance(candidate: Candidate, entry: Any) -> tuple[Any, Any]:
    """The raw value plus the declared keys of the object holding it (e.g. a benchmark row's
    is_self_reported), so provenance says what kind of truth the value is."""
    for match in candidate.expr.find(entry):
        if match.value is None:
            continue
        parent = match.context.value if getattr(match, "context", None) is not None else None
        if not isinstance(parent, dict):
            parent = entry if isinstance(entry, dict) else {}
        raw = {"value": match.value, **{k: parent.get(k) for k in candidate.provenance}}
        return raw, apply(candidate, match.value)
    return None, None


def _compute_inputs(name: str, entry: Any) -> Any:
    """The raw inputs a compute rule read, kept as provenance (not the whole document)."""
    if not isinstance(entry, dict):
        return None
    if name == "hf_score":
        return {k: entry.get(k) for k in ("downloads", "likes", "createdAt")}
    if name == "architecture":
        keys = [k for k in (*EXPERT_KEYS, "num_experts_per_tok", "model_type", "parameters") if k in entry]
        return {k: entry[k] for k in keys}
    if name == "param_count":
        return entry.get("safetensors")
    if name == "context_window":
        config = entry if "max_position_embeddings" in entry else entry.get("text_config") or {}
        return {k: config[k] for k in ("max_position_embeddings", "rope_scaling") if k in config}
    if name == "open_vlm_overall":
        keys = (*OPEN_VLM_DEFAULT, "MMBench_TEST_EN_V11", "MMBench_TEST_CN_V11")
        return {k: entry[k] for k in keys if k in entry}
    if name == "livebench_overall":
        return {k: v for k, v in entry.items() if k not in ("model", "Model")}
    return None
