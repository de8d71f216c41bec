"""One definition of "fillable" (a field some active source can fill) and "filled" (such a field
with a value in the file), used by the recap, the run total and coverage alike."""

from __future__ import annotations

import json
import re

from helpers import cli

from etl import Pipeline, PipelineConfig


def test_recap_run_total_and_coverage_give_the_same_numbers_on_the_example(example_config):
    run = cli("run", "-c", str(example_config), "--offline")
    assert run.exit_code == 0, run.output
    recap = {m: (int(f), int(n)) for m, f, n in re.findall(r"^ok   (.+?): (\d+)/(\d+) fields filled", run.output, re.M)}
    assert len(recap) == 10
    total = re.search(r"; (\d+)/(\d+) fields filled;", run.output)
    assert (int(total[1]), int(total[2])) == tuple(map(sum, zip(*recap.values(), strict=True))) == (114, 452)
    coverage = json.loads(cli("coverage", "-c", str(example_config), "-f", "json").output)["models"]
    assert {m: (c["filled"], c["fillable"]) for m, c in coverage.items()} == recap
    table = cli("coverage", "-c", str(example_config)).output
    for model, (filled, fillable) in recap.items():
        assert re.search(rf"^{re.escape(model)} +{filled:>3}/{fillable:<3} filled", table, re.M), model
    pipeline = Pipeline(PipelineConfig.load(example_config, {"offline": True}))
    assert {r.model: (r.filled, r.fillable) for r in pipeline.run()} == recap
    # 45 fields some active source fills; Llama's values file adds RULER 32K and 128K, which none does
    assert {m: n for m, (_, n) in recap.items() if n != 45} == {"Llama 3.1 70B Instruct": 47}


def test_a_rerun_in_place_counts_what_the_file_holds_not_what_this_run_added(workdir, warm_store):
    """The second run of an in-place fill used to say 0/22 (only the nulls left counted)."""
    folder = workdir / "Models"
    folder.mkdir()
    template = json.loads((workdir / "templates" / "template.json").read_text())
    (folder / "DeepSeek V3.json").write_text(json.dumps(template | {"hf_id": "deepseek-ai/DeepSeek-V3"}))
    workdir.joinpath("s.sqlite").write_bytes(warm_store.read_bytes())
    args = ("run", "--input-dir", "Models", "--in-place", "--offline", "--cache-path", "s.sqlite")
    first, second = cli(*args).output, cli(*args).output
    line = "ok   DeepSeek V3: 21/45 fields filled"
    assert line in first and line in second
