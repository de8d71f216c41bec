"""The right model in every source (issue 21), on the recorded catalogs: each rule's match, and the
near-miss it must leave unmatched or ambiguous.

1. every identity column is a name (LLM Stats' model_id), but not an id that drops a word of the
   display name (AA's slug glm-4-6 of "GLM-4.6 (Non-reasoning)");
2. `org/name` names `name` where the org develops the model (UGI, Open LLM), not another org's finetune;
3. `+` reads `plus` (Command R+ is not Command R);
4. an entry with exactly the name's tokens beats its qualified siblings; a bare name without one stays ambiguous;
5. a day equals the only month date of that name (June '24); a version suffix is not a date;
6. a join key is used only when it agrees with the entry that published it and with the other catalogs.
"""

from __future__ import annotations

import re
import shutil

import pytest
import yaml
from conftest import EXAMPLES

from etl import Pipeline
from etl.declared.identity import NAMES_FILE, NameRules
from etl.declared.mappings import Identity, Source, compile_path, load_mappings
from etl.errors import UsageError
from etl.extract import open_fetcher
from etl.matching.catalogs import _same_date, disagreement, load_catalogs
from etl.matching.matching import CatalogIndex, MatchMethod

OFF = {s: {"enabled": False} for s in ("huggingface", "huggingface_config", "hf_eval_results")}


@pytest.fixture(scope="module")
def recorded(warm_store, tmp_path_factory):
    """Every recorded catalog, indexed as a run indexes it (a copy of the warm store)."""
    work = tmp_path_factory.mktemp("identity")
    shutil.copy(warm_store, work / "etl.sqlite")
    config = {
        "template_path": str(EXAMPLES / "templates" / "template.json"),
        "cache_path": str(work / "etl.sqlite"),
        "output_dir": str(work / "out"),
        "models": ["x"],
        "sources": OFF,
    }
    pipeline = Pipeline(config)
    fetcher = open_fetcher(pipeline.config, pipeline.resolved, pipeline.store, offline=True)
    try:
        catalogs = load_catalogs(pipeline.resolved, fetcher, [])
    finally:
        fetcher.close()
    return {name: c.index for name, c in catalogs.items() if hasattr(c, "index")}, config, work


def match(recorded, source: str, name: str):
    return recorded[0][source].match(name, None)


def _ids(found) -> list[str]:
    return sorted(c["id"] for c in found.candidates)


# ----- 1. ids are names; not an id that drops a word of the display name ----------------------------
def test_an_id_column_is_a_name(recorded):
    for name, entry in [
        ("GPT-4o-2024-05-13", "gpt-4o-2024-05-13"),  # its name is the bare "GPT-4o" of several dated entries
        ("Claude 3.5 Sonnet (20240620)", "claude-3-5-sonnet-20240620"),
        ("GPT-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18"),
    ]:
        found = match(recorded, "llm_stats", name)
        assert (found.status, found.entry_id) == ("matched", entry), name
        assert found.note == f"as {entry!r} (an id of the entry)"
    bare = match(recorded, "llm_stats", "GPT-4o")  # the display name of both dated entries
    assert bare.status == "ambiguous" and _ids(bare) == ["gpt-4o-2024-05-13", "gpt-4o-2024-08-06"]


def test_an_id_that_drops_a_qualifier_of_the_display_name_is_no_name(recorded):
    glm = match(recorded, "artificial_analysis", "GLM-4.6")  # slug glm-4-6 is "GLM-4.6 (Non-reasoning)"
    assert glm.status == "ambiguous" and _ids(glm) == ["glm-4-6", "glm-4-6-reasoning"]
    index = recorded[0]["artificial_analysis"]
    entry = index.entries[index.by_id["glm-4-6"][0]]
    assert "glm-4-6" not in index.names(entry) and "GLM-4.6 (Non-reasoning)" in index.names(entry)


# ----- 2. org/ prefixes: one rule, the developer's ------------------------------------------------
@pytest.mark.parametrize(
    ("source", "name", "entry"),
    [
        ("ugi", "GPT-4o-2024-05-13", "openai/gpt-4o-2024-05-13"),
        ("ugi", "Gemma-2-2b-it", "google/gemma-2-2b-it"),
        ("open_llm", "Gemma-2-2b-it", "google_gemma-2-2b-it_bfloat16"),
        ("open_llm", "Qwen2-72B-Instruct", "Qwen_Qwen2-72B-Instruct_bfloat16"),
        ("openrouter", "GPT-3.5-Turbo-0613", "openai/gpt-3.5-turbo-0613"),
    ],
)
def test_org_slash_name_names_the_developers_model(recorded, source, name, entry):
    found = match(recorded, source, name)
    assert (found.status, found.entry_id, found.method) == ("matched", entry, MatchMethod.NAME)


def test_another_orgs_finetune_is_not_the_model(recorded):
    """AI-Sweden-Models/Llama-3-8B-instruct is in Open LLM beside Meta's two rows (two precisions)."""
    found = match(recorded, "open_llm", "Llama-3-8B-Instruct")
    assert found.status == "unmatched", found
    assert recorded[0]["open_llm"].by_id["ai-sweden-models/llama-3-8b-instruct"]  # it is there
    meta = match(recorded, "open_llm", "Meta-Llama-3-8B-Instruct")  # Meta's repo name: its two rows
    assert meta.status == "ambiguous" and all(c["id"].startswith("meta-llama_") for c in meta.candidates)
    assert not NameRules({"meta-llama": ("llama",)}).develops("AI-Sweden-Models", "llama")


# ----- 3. '+' is 'plus' ---------------------------------------------------------------------------
def test_plus_is_a_word(recorded):
    for source in ("artificial_analysis", "llm_stats"):
        found = match(recorded, source, "Command R+ (04-2024)")
        assert (found.status, found.entry_id) == ("matched", "command-r-plus-04-2024"), source
    # Command R (04-2024) is neither R+ nor AA's Command-R (Mar '24)
    plain = match(recorded, "artificial_analysis", "Command R (04-2024)")
    assert plain.status == "unmatched"
    assert match(recorded, "llm_stats", "Command R (04-2024)").status == "unmatched"


# ----- 4. exact beats qualified -------------------------------------------------------------------
def test_the_entry_with_exactly_the_names_tokens_wins(recorded):
    mt = match(recorded, "mt_bench", "Claude 3.7 Sonnet")  # not "Claude 3.7 Sonnet (thinking-32k)"
    assert (mt.status, mt.entry_id) == ("matched", "claude-3-7-sonnet-20250219")
    assert match(recorded, "mt_bench", "Claude 3.7 Sonnet (thinking-32k)").entry_id.endswith("-thinking-32k")
    o3 = match(recorded, "artificial_analysis", "o3-mini")
    assert (o3.status, o3.entry_id) == ("matched", "o3-mini")
    # no entry named exactly GLM-4.6: both qualified entries stay candidates (test above)


# ----- 5. month dates -----------------------------------------------------------------------------
def test_a_day_is_the_only_entry_of_its_name_in_that_month(recorded):
    aa = match(recorded, "artificial_analysis", "Claude 3.5 Sonnet (20240620)")
    assert (aa.status, aa.entry_id, aa.method) == ("matched", "claude-35-sonnet-june-24", MatchMethod.MONTH)
    assert match(recorded, "artificial_analysis", "Claude 3.5 Sonnet (20241022)").entry_id == "claude-35-sonnet"
    ep = match(recorded, "evalplus", "GPT-4o-mini-2024-07-18")
    assert (ep.status, ep.entry_id, ep.method) == ("matched", "GPT 4o Mini (July 2024)", MatchMethod.MONTH)


def test_a_version_suffix_is_not_a_date_and_another_month_is_not_the_model(recorded):
    assert (
        match(recorded, "artificial_analysis", "Gemini-1.5-Pro-002").status == "unmatched"
    )  # (Sep '24): the alias file's
    assert match(recorded, "artificial_analysis", "Claude 3.5 Sonnet (20240720)").status == "unmatched"  # no July entry


def test_two_entries_of_the_name_in_that_month_are_ambiguous():
    source = Source(
        name="src",
        url="http://127.0.0.1/x",
        scope="catalog",
        records=compile_path("$[*]"),
        identity=Identity(ids=(compile_path("$.id"),), names=(compile_path("$.name"),), dates=True),
    )
    entries = [
        {"id": "a", "name": "Foo (May '24)"},
        {"id": "b", "name": "Foo (2024-05-20)"},
        {"id": "c", "name": "Foo (June '24)"},
    ]
    index = CatalogIndex(source, entries)
    found = index.match("Foo 2024-05-13", None)
    assert found.status == "ambiguous" and _ids(found) == ["a", "b"]
    assert index.match("Foo 2024-06-02", None).entry_id == "c"
    assert index.match("Foo 2024-07-02", None).status == "unmatched"


# ----- 5b. a bare name and its only dated variant ---------------------------------------------------
DATED = ("artificial_analysis", "llm_stats", "openrouter")  # each lists one Command R+ snapshot only


def test_a_bare_name_dated_differently_across_sources_is_ambiguous(recorded):
    """AA's only Command R+ is "Command-R+ (Apr '24)", LLM Stats' is command-r-plus-04-2024, OpenRouter's
    "Command R+ (08-2024)"; LMArena and MT-Bench list both. Before: all three matched "by exact name",
    so one file mixed the April and the August snapshot (input prices 3 and 2.5, a conflict)."""
    pipeline = _run(recorded, ["Command R+"])
    rows = {r["source"]: r for r in pipeline.store.matches("Command R+")}
    for source, entry in zip(DATED, ("command-r-plus-04-2024",) * 2 + ("cohere/command-r-plus-08-2024",), strict=True):
        row = rows[source]
        assert (row["status"], row["method"]) == ("ambiguous", MatchMethod.ONLY_VARIANT), source
        assert [c["id"] for c in row["candidates"]] == [entry]
        assert f"pin it with ids: {{{source}: {entry}}} if it is this model" in row["note"]
        assert "2024-04: artificial_analysis command-r-plus-04-2024, lmarena Command R+ (04-2024)" in row["note"]
        assert "2024-08: openrouter cohere/command-r-plus-08-2024, lmarena Command R+ (08-2024)" in row["note"]
    assert rows["lmarena"]["status"] == "ambiguous"
    assert rows["bigcodebench"]["status"] == "matched"  # an undated "Command R+" takes no side
    staged = pipeline.store.staged("Command R+")
    assert not [r for r in staged if r["source"] in DATED] and not [r for r in staged if r["conflict"]]


def test_a_bare_name_with_one_date_everywhere_keeps_its_only_variant(recorded):
    """Claude 3.5 Haiku: LMArena's and MT-Bench's only entry is (20241022), LLM Stats' id says 20241022,
    AA's is undated: one date, so the only variants stay matched (the README example's values)."""
    pipeline = _run(recorded, ["Claude 3.5 Haiku"])
    rows = {r["source"]: r for r in pipeline.store.matches("Claude 3.5 Haiku")}
    for source in ("lmarena", "mt_bench", "llm_stats"):
        assert (rows[source]["status"], rows[source]["method"]) == ("matched", MatchMethod.ONLY_VARIANT), source
    assert rows["lmarena"]["entry_id"] == "Claude 3.5 Haiku (20241022)"
    assert (rows["artificial_analysis"]["status"], rows["artificial_analysis"]["method"]) == ("matched", "exact name")
    assert [r["value"] for r in pipeline.store.staged("Claude 3.5 Haiku", "lm_sys_arena_score") if r["chosen"]]


def test_a_release_month_agrees_with_the_snapshot_day_before_it(recorded):
    """EvalPlus dates Claude 3 Opus "(Mar 2024)" (its release), LLM Stats and MT-Bench 20240229 (its
    snapshot): one model, so both stay matched; Apr and Aug 2024 are two."""
    pipeline = _run(recorded, ["Claude 3 Opus"])
    rows = {r["source"]: r for r in pipeline.store.matches("Claude 3 Opus")}
    assert (rows["evalplus"]["status"], rows["evalplus"]["entry_id"]) == ("matched", "claude-3-opus (Mar 2024)")
    assert (rows["llm_stats"]["status"], rows["llm_stats"]["entry_id"]) == ("matched", "claude-3-opus-20240229")
    assert [
        _same_date(a, b) for a, b in [("2024-02-29", "2024-03"), ("2024-12-20", "2025-01"), ("2024-04", "2024-08")]
    ] == [
        True,
        True,
        False,
    ]
    assert not _same_date("2024-05-13", "2024-08-06") and not _same_date("2024-04-10", "2024-06")


def test_a_run_date_beside_other_words_is_no_snapshot_date(recorded):
    """SWE-bench's folder 20250807_mini-v1.7.0_gpt-oss-120b is the date of a run: gpt-oss-120b keeps
    it (before the snapshot rule, reading any date made it ambiguous). Aider's only entry is
    "gpt-oss-120b (high)": a reasoning effort, not a snapshot date, so a bare name does not drop it
    (the entry is offered as the pin to write)."""
    pipeline = _run(recorded, ["gpt-oss-120b"])
    rows = {r["source"]: r for r in pipeline.store.matches("gpt-oss-120b")}
    assert (rows["swe_bench"]["status"], rows["swe_bench"]["method"]) == ("matched", "exact name")
    assert rows["aider"]["status"] == "unmatched"
    assert "only gpt-oss-120b (high) fits, with a qualifier the name lacks; pin it" in rows["aider"]["note"]


def test_a_bare_name_never_drops_a_qualifier_that_is_no_date(recorded):
    """Aider's "DeepSeek V3 (0324)" is DeepSeek-V3-0324, a later release, and UGI's "Qwen/Qwen3-32B
    (thinking=disabled)" a mode: neither fills a bare name's file; a snapshot date still does."""
    pipeline = _run(recorded, ["DeepSeek V3", "Qwen3-32B", "Claude 3.5 Haiku"])
    rows = {(r["model"], r["source"]): r for r in pipeline.store.matches()}
    assert rows[("DeepSeek V3", "aider")]["status"] == "unmatched"
    assert rows[("Qwen3-32B", "ugi")]["status"] == "unmatched"
    assert (rows[("Claude 3.5 Haiku", "lmarena")]["status"], rows[("Claude 3.5 Haiku", "lmarena")]["method"]) == (
        "matched",
        "only variant",
    )


# ----- 6. join keys are evidence ------------------------------------------------------------------
def _run(recorded, models):
    _, config, work = recorded
    pipeline = Pipeline({**config, "models": models, "output_dir": str(work / "out")})
    pipeline.run()
    return pipeline


def test_a_published_base_repo_is_refused_and_the_instruct_row_is_used(recorded):
    """LLM Stats' qwen2-72b-instruct publishes Qwen/Qwen2-72B: the base. Open LLM then gives the
    Instruct row's average (43.59 in the recorded file), not the base's (35.46)."""
    pipeline = _run(recorded, ["Qwen2-72B-Instruct"])
    rows = {r["source"]: r for r in pipeline.store.matches("Qwen2-72B-Instruct")}
    assert rows["llm_stats"]["status"] == "matched"
    assert (
        "refused hf_id Qwen/Qwen2-72B from llm_stats entry qwen2-72b-instruct (source_weights_link): "
        in (rows["llm_stats"]["note"])
    )
    assert "missing token 'instruct'" in rows["llm_stats"]["note"]
    assert rows["open_llm"]["entry_id"] == "Qwen_Qwen2-72B-Instruct_bfloat16"
    staged = pipeline.store.staged("Qwen2-72B-Instruct", "open_llm")
    assert [r["value"] for r in staged if r["chosen"]] == [43.59]


def test_a_published_key_that_agrees_is_used(recorded):
    """OpenRouter's google/gemma-2-27b-it entry publishes google/gemma-2-27b-it: the model's key."""
    pipeline = _run(recorded, ["Gemma-2-27B-it"])
    rows = {r["source"]: r for r in pipeline.store.matches("Gemma-2-27B-it")}
    assert "refused" not in (rows["openrouter"]["note"] or "")
    assert rows["bigcodebench"]["method"] in ("join:hf_id", "exact name")
    assert rows["bigcodebench"]["entry_id"] == "Gemma-2-27B-Instruct"


def test_a_developers_own_repo_prefix_is_no_extra_word_of_a_published_key(recorded):
    """BigCodeBench's and EvalPlus' Command R+ link CohereForAI/c4ai-command-r-plus, and names.yaml
    declares c4ai a prefix of CohereForAI's models: the key is used (before: refused, "extra token
    'c4ai'"), and Open LLM's and UGI's rows of that repo join by it. Another org's c4ai repo, or
    Cohere's other snapshot, is still refused."""
    for source in ("bigcodebench", "evalplus"):
        index = recorded[0][source]
        found = index.match("Command R+", None)
        assert found.status == "matched", source
        assert disagreement(index, found.entry, "CohereForAI/c4ai-command-r-plus") is None
        assert "extra token 'c4ai'" in disagreement(index, found.entry, "someone/c4ai-command-r-plus")
        assert "2024" in disagreement(index, found.entry, "CohereForAI/c4ai-command-r-plus-08-2024")  # its date
    pipeline = _run(recorded, ["Command R+"])
    rows = {r["source"]: r for r in pipeline.store.matches("Command R+")}
    assert not [r for r in rows.values() if "refused" in (r["note"] or "")]
    assert (rows["bigcodebench"]["status"], rows["bigcodebench"]["method"]) == ("matched", MatchMethod.JOIN)
    assert rows["open_llm"]["entry_id"] == "CohereForAI_c4ai-command-r-plus_float16"
    assert rows["ugi"]["entry_id"] == "CohereForAI/c4ai-command-r-plus"


# ----- the alias file -----------------------------------------------------------------------------
def test_a_declared_alias_finds_the_entry_and_cites_its_source(recorded):
    found = match(recorded, "arena_hard", "Gemini-1.5-Flash-001")
    assert (found.status, found.entry_id, found.method) == ("matched", "gemini-1.5-flash-api-0514", MatchMethod.ALIAS)
    assert "leaderboard_table_20250511.csv: row key gemini-1.5-flash-api-0514" in found.note
    assert match(recorded, "arena_hard", "Gemini-1.5-Flash-002").status == "unmatched"  # another model


def test_every_shipped_alias_has_a_citation_and_the_file_is_checked(tmp_path):
    names = load_mappings().names
    assert names.aliases and all(a.citation.startswith("https://") for a in names.aliases)
    folder = tmp_path / "mappings"
    shutil.copytree(load_mappings().folder, folder)
    text = (folder / NAMES_FILE).read_text(encoding="utf-8")
    bad = yaml.safe_load(text)
    bad["aliases"].append({"names": ["Gemini-1.5-Flash-001", "gemini-flash-x"], "citation": "https://example.org/x"})
    bad["aliases"].append({"names": ["Foo 1", "foo-1"], "citation": "https://example.org/y"})
    bad["aliases"].append({"names": ["Bar"]})
    (folder / NAMES_FILE).write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(UsageError) as err:
        load_mappings(folder)
    last = f"{folder / NAMES_FILE}: aliases[{len(bad['aliases']) - 1}]"
    assert str(err.value).splitlines() == [f"{last}: missing key: 'citation'", f"{last}.names: ['Bar'] is too short"]
    del bad["aliases"][-1]
    (folder / NAMES_FILE).write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(UsageError) as err:
        load_mappings(folder)
    n = len(bad["aliases"])
    assert str(err.value).splitlines() == [
        f"{folder / NAMES_FILE}: aliases[{n - 2}]: 'Gemini-1.5-Flash-001' is already in aliases[0]; merge the two",
        f"{folder / NAMES_FILE}: aliases[{n - 1}]: 'Foo 1' and 'foo-1' have the same tokens; no alias is needed",
    ]


def test_llama_3_3_is_never_llama_3_and_back(recorded):
    """A version is a token: every catalog's match for Llama-3.3 names 3.3, and none for Llama-3 does."""
    seen = 0
    for source, index in recorded[0].items():
        for query, is_33 in (("Llama-3.3-70B-Instruct", True), ("Llama-3-70B-Instruct", False)):
            found = index.match(query, None)
            if found.status != "matched":
                continue
            seen += 1
            names = " ".join(index.names(found.entry)).lower()
            assert bool(re.search(r"3[._-]3", names)) == is_33, (source, query, found.entry_id)
    assert seen >= 8  # the recorded catalogs hold both, in several sources


def test_the_developers_instruct_repo_is_its_model_and_a_quantisation_is_not(recorded):
    """The recorded model info of Qwen/Qwen2.5-7B-Instruct says base_model:finetune:Qwen/Qwen2.5-7B
    (gemma-3-1b-it: finetune of google/gemma-3-1b-pt): the developer's own repos, so the key the
    catalogs publish is used and hf_score is filled (before: refused as derivatives)."""
    _, config, work = recorded
    sources = {"huggingface_config": {"enabled": False}, "hf_eval_results": {"enabled": False}}
    pipeline = Pipeline({**config, "models": ["Qwen2.5-7B-Instruct", "gemma-3-1b-it"], "sources": sources})
    pipeline.run()
    for model, repo in (("Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct"), ("gemma-3-1b-it", "google/gemma-3-1b-it")):
        rows = {r["source"]: r for r in pipeline.store.matches(model)}
        assert (rows["huggingface"]["status"], rows["huggingface"]["entry_id"]) == ("matched", repo)
        assert [r["value"] is not None for r in pipeline.store.staged(model, "hf_score") if r["chosen"]] == [True]
    hf = load_mappings().sources["huggingface"]
    info = {"tags": ["base_model:finetune:Qwen/Qwen2.5-7B"]}
    assert hf.is_derivative(info, "Qwen/Qwen2.5-7B-Instruct") is None
    assert hf.is_derivative(info, "someone/Qwen2.5-7B-Instruct") == "base_model:finetune:Qwen/Qwen2.5-7B"
    quantised = {"tags": ["base_model:quantized:Qwen/Qwen2.5-7B-Instruct"]}
    assert (
        hf.is_derivative(quantised, "Qwen/Qwen2.5-7B-Instruct-AWQ") == "base_model:quantized:Qwen/Qwen2.5-7B-Instruct"
    )
