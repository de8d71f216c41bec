"""Names found in every source, for the 60 most-voted LMArena names, offline, from the bundled cassettes.

    python benchmarks/names.py            # from the repository root, in its venv

A new user's run: the 60 most-voted models of the recorded LMArena table (cassettes/lmarena_rows.yaml,
the rows of shared/data/boards/lmarena_text.2025-08-04.csv) under the names LMArena gives them, no
hf_id, no pins, Hugging Face sources off (the cassettes hold Hugging Face answers for the example's
repos only). The cassettes go into a fresh cache in a temporary folder and ``etl run --offline``
fills one file per name (zero requests). This prints:

- the run's own total ("N/M fields filled over 60 models"; 153/1440 before issue 14, 391/2640
  before issue 21);
- per source, *token-exact names found / present*: a pair (name, source) is *present* when exactly
  one entry of the source's raw records has an identity value with the name's tokens, read here
  with this file's own tokenizer and its own list of each source's identity columns (never the
  matcher's); *found* when the run matched that entry; *wrong* when the run matched another entry
  although a token-exact one exists; *other* counts matches made by rules a token-exact reading
  does not judge (month dates, equivalences, aliases, a bare name and its only variant).
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

from etl.extract import open_fetcher
from etl.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
N = 60
HF_OFF = ("huggingface", "huggingface_config", "hf_eval_results")

#: each source's identity columns, restated by hand from the raw records (a value or a path of keys)
COLUMNS: dict[str, list[tuple[str, ...]]] = {
    "artificial_analysis": [("name",), ("slug",)],
    "openrouter": [("name",), ("id",), ("canonical_slug",), ("hugging_face_id",)],
    "lmarena": [("model_name",)],
    "livebench": [("model",), ("Model",)],
    "bigcodebench": [("model",), ("link",)],
    "evalplus": [("model",), ("link",)],
    "open_llm": [("fullname",), ("eval_name",)],
    "ugi": [("author/model_name",)],
    "open_vlm": [("model",)],
    "aider": [("model",), ("dirname",)],
    "arena_hard": [("model",)],
    "bfcl": [("Model",), ("Model Link",)],
    "llm_stats": [("name",), ("model_id",), ("source_weights_link",)],
    "mt_bench": [("Model",), ("key",), ("Link",)],
    "swe_bench": [("tags", "0"), ("folder",)],
    "wildbench": [("model",)],
}
#: the column whose value `etl match` shows as the entry's id
ID = {s: [cols[0][0]] for s, cols in COLUMNS.items()} | {
    "artificial_analysis": ["slug"],
    "openrouter": ["id"],
    "livebench": ["model", "Model"],
    "open_llm": ["eval_name"],
    "llm_stats": ["model_id"],
    "mt_bench": ["key"],
    "swe_bench": ["folder"],
}
#: the columns that are display names (the others are ids, links, repo ids)
DISPLAY = {"name", "model_name", "model", "Model", "fullname", "author/model_name", "tags"}
#: prefixes and suffixes a source puts around the model's name ("OpenAI: GPT-4o", "dbrx@together")
AROUND = re.compile(r"^[A-Za-z0-9 .'-]+:\s+|^Model:\s*|@[a-z-]+$")
#: who develops the families of the 60 names, restated: `org/name` counts as `name` only for these
DEVELOPERS = {
    "anthropic": ("claude",),
    "openai": ("gpt", "o1", "o3", "chatgpt"),
    "google": ("gemma", "gemini"),
    "meta-llama": ("llama", "meta"),
    "mistralai": ("mistral", "mixtral"),
    "qwen": ("qwen",),
    "cohere": ("command",),
    "coherelabs": ("c4ai", "command"),
    "cohereforai": ("c4ai", "command"),
    "x-ai": ("grok",),
    "snowflake": ("snowflake",),
    "databricks": ("dbrx",),
    "01-ai": ("yi",),
    "reka": ("reka",),
}
_SEP = r"[\s._\-/:,'’()]+"
_EDGE_L, _EDGE_R = r"(?<![^\s._\-/:,'’()])", r"(?![^\s._\-/:,'’()])"
_Y, _M, _D = r"((?:19|20)\d\d)", r"(0[1-9]|1[0-2])", r"(0[1-9]|[12]\d|3[01])"


def ref_tokens(name: str) -> Counter[str]:
    """Lower case, separators and parentheses split, '+' is 'plus', a full date (YYYYMMDD or
    YYYY-MM-DD) one token and a month date (MM-YYYY) another."""
    text = name.lower().replace("+", " plus ")
    text = re.sub(_EDGE_L + _Y + _M + _D + _EDGE_R, r"§\1\2\3", text)
    text = re.sub(_EDGE_L + _Y + r"[-_./]" + _M + r"[-_./]" + _D + _EDGE_R, r"§\1\2\3", text)
    text = re.sub(_EDGE_L + _M + r"[-_./]" + _Y + _EDGE_R, r"§\2\1", text)
    return Counter(w for w in re.split(_SEP, text) if w)


def _value(record: object, path: tuple[str, ...]) -> str | None:
    for key in path:
        if isinstance(record, list) and key.isdigit() and int(key) < len(record):
            record = record[int(key)]
        elif isinstance(record, dict):
            record = record.get(key)
        else:
            return None
    return record if isinstance(record, str) and record.strip() else None


def names_of(source: str, record: object) -> list[str]:
    """The record's names: display names (prefix/suffix aside), ids that keep every word of the
    display name (a slug 'glm-4-6' of 'GLM-4.6 (Non-reasoning)' is no name), and the repo name of
    an `org/name` value or Hugging Face link whose org develops that model."""
    display, ids = [], []
    for path in COLUMNS[source]:
        value = _value(record, path)
        if value is None:
            continue
        (display if path[0] in DISPLAY else ids).append(AROUND.sub("", value))
    out = list(display)
    for value in ids:
        drops = [d for d in display if ref_tokens(value) < ref_tokens(d)]
        if not drops:
            out.append(value)
    for value in display + ids:
        repo = re.sub(r"^https?://(www\.)?huggingface\.co/", "", value).strip("/")
        parts = repo.split("/")
        if len(parts) == 2 and " " not in parts[0] and "://" not in value.replace("huggingface.co/", ""):
            org, name = parts[0].lower(), parts[1]
            first = re.split(_SEP, name.lower())[0]
            if any(first.startswith(f) for f in DEVELOPERS.get(org, ())):
                out.append(name)
    return out


def raw_entries(pipeline: Pipeline) -> dict[str, list[tuple[str, list[Counter[str]]]]]:
    """Per source, (first id, token bags of its names) per record, from the cached bodies."""
    fetcher = open_fetcher(pipeline.config, pipeline.resolved, pipeline.store, offline=True)
    out: dict[str, list[tuple[str, list[Counter[str]]]]] = {}
    try:
        for name in COLUMNS:
            source = pipeline.sources[name]
            seen, rows = set(), []
            for doc in fetcher.documents(source, source.url):
                for record in doc.records(source):
                    ident = next((v for key in ID[name] if (v := _value(record, (key,)))), None)
                    twin = repr(record)
                    if twin in seen:  # a page served twice
                        continue
                    seen.add(twin)
                    rows.append((str(ident), [ref_tokens(n) for n in names_of(name, record)]))
            out[name] = rows
    finally:
        fetcher.close()
    return out


def top_names(pipeline: Pipeline, n: int = N) -> list[str]:
    fetcher = open_fetcher(pipeline.config, pipeline.resolved, pipeline.store, offline=True)
    try:
        source = pipeline.sources["lmarena"]
        rows = [r for doc in fetcher.documents(source, source.url) for r in doc.records(source)]
    finally:
        fetcher.close()
    rows.sort(key=lambda r: -r["vote_count"])
    return [r["model_name"] for r in rows[:n]]


def etl(*args: str, cwd: Path) -> str:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "etl", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: some models incomplete, as expected for 60 names
        raise SystemExit(f"etl {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def measure(work: Path) -> dict:
    config = {
        "template_path": str(ROOT / "examples" / "templates" / "template.json"),
        "cache_path": str(work / "etl.sqlite"),
        "output_dir": str(work / "out"),
        "models": ["placeholder"],
        "sources": {name: {"enabled": False} for name in HF_OFF},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    etl("cache", "import", *map(str, sorted((ROOT / "cassettes").glob("*.yaml"))), "-c", "config.yaml", cwd=work)
    pipeline = Pipeline(config)
    names = top_names(pipeline)
    config["models"] = names
    (work / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    out = etl("run", "-c", "config.yaml", "--offline", "--log-level", "WARNING", cwd=work)
    total = re.search(r"^\d+ written, \d+ unchanged, \d+ failed; (\d+)/(\d+) fields filled;", out, re.M)
    if not total:
        raise SystemExit(f"no total line in the run's output:\n{out}")
    got = {(r["model"], r["source"]): r for r in pipeline.store.matches() if r["status"] == "matched"}
    entries = raw_entries(pipeline)
    pipeline.close()
    per_source, details = {}, []
    for source, rows in entries.items():
        present = found = wrong = other = 0
        for name in names:
            want = ref_tokens(name)
            identical = [eid for eid, bags in rows if want in bags]
            match = got.get((name, source))
            if len(identical) == 1:
                present += 1
                if match and match["entry_id"] == identical[0]:
                    found += 1
                else:
                    details.append(
                        f"  missed  {source:<20} {name!r} -> {identical[0]!r} ({match and match['entry_id']})"
                    )
            if match and identical and match["entry_id"] not in identical:
                wrong += 1
                details.append(f"  WRONG   {source:<20} {name!r} -> {match['entry_id']!r}, token-exact: {identical}")
            elif match and not identical:
                other += 1
                details.append(f"  other   {source:<20} {name!r} -> {match['entry_id']!r} by {match['method']}")
        per_source[source] = {"found": found, "present": present, "wrong": wrong, "other": other}
    filled = (int(total.group(1)), int(total.group(2)))
    return {"filled": filled, "per_source": per_source, "details": details}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(Path(tmp))
    filled, per = result["filled"], result["per_source"]
    print(
        f"{filled[0]}/{filled[1]} fields filled over {N} models (before issue 14: 153/1440; before issue 21: 391/2640)"
    )
    print(f"{'source':<20} {'found/present':>14} {'share':>7} {'wrong':>6} {'other':>6}")
    for source, c in per.items():
        share = f"{100 * c['found'] / c['present']:.0f}%" if c["present"] else "-"
        print(f"{source:<20} {c['found']:>6}/{c['present']:<7} {share:>7} {c['wrong']:>6} {c['other']:>6}")
    found, present = sum(c["found"] for c in per.values()), sum(c["present"] for c in per.values())
    wrong, other = sum(c["wrong"] for c in per.values()), sum(c["other"] for c in per.values())
    print(f"{'all':<20} {found:>6}/{present:<7} {100 * found / present:>6.1f}% {wrong:>6} {other:>6}")
    if "-v" in sys.argv:
        print("\n".join(result["details"]))


if __name__ == "__main__":
    main()
