"""The user's side: coverage in every format, pins written and read back, diff, attribution, and
the HTML page rendered by a real headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import yaml
from helpers import cli, import_into

ARTIFACTS = Path(__file__).resolve().parent.parent / ".test-artifacts"


def _ok(*args):
    result = cli(*map(str, args))
    assert result.exit_code == 0, result.output
    return result.output


def test_coverage_json_and_csv_say_why_cells_are_empty(example_config):
    data = json.loads(_ok("coverage", "-c", example_config, "--offline", "-f", "json"))
    glm = data["models"]["GLM-4.6"]["cells"]
    assert glm["entity_benchmarks.artificial_analysis"] == {
        "status": "ambiguous",
        "value": None,
        "source": None,
        "detail": "ambiguous: artificial_analysis",
    }
    assert (
        glm["model_specs.architecture"]["status"] == "filled"
        and glm["model_specs.architecture"]["source"] == "huggingface_config"
    )
    assert glm["dev_benchmarks.MTOB"]["detail"] == "no source publishes this field yet"
    assert glm["dev_benchmarks.Humanity's Last Exam"]["detail"] == "source off: artificial_analysis_pro"
    assert data["models"]["Acme Internal 7B"]["filled"] == 0
    assert data["ambiguous"]["GLM-4.6"]["artificial_analysis"] == [
        {"id": "glm-4-6", "name": "GLM-4.6 (Non-reasoning)"},
        {"id": "glm-4-6-reasoning", "name": "GLM-4.6 (Reasoning)"},
    ]
    rows = list(csv.DictReader(io.StringIO(_ok("coverage", "-c", example_config, "--offline", "-f", "csv"))))
    assert len(rows) == 10 * 56
    deepseek = {r["field"]: r for r in rows if r["model"] == "DeepSeek V3"}
    assert deepseek["param_count"]["status"] == "conflict" and deepseek["param_count"]["value"] == "684531386000"


def test_coverage_table_lists_the_pins_to_write(example_config):
    out = _ok("coverage", "-c", example_config, "--offline")
    assert (
        "ambiguous: GLM-4.6 in artificial_analysis: pin one with ids: {artificial_analysis: <id>}; candidates: glm-4-6 (GLM-4.6 (Non-reasoning)), glm-4-6-reasoning (GLM-4.6 (Reasoning))"
        in out
    )
    assert any(line.startswith("Qwen2.5 72B Instruct") and " 22/45 " in line for line in out.splitlines())


def test_pins_written_edited_read_and_kept(example_config, workdir):
    pins = workdir / "pins.yaml"
    out = _ok("match", "-c", example_config, "--offline", "--write-pins", pins)
    assert f"{pins}: 3 decision(s) to make" in out
    text = pins.read_text()
    assert (
        "  artificial_analysis: null  # ambiguous: glm-4-6 = GLM-4.6 (Non-reasoning); glm-4-6-reasoning = GLM-4.6 (Reasoning)"
        in text
    )
    pins.write_text(
        text.replace("  artificial_analysis: null  # ambiguous", "  artificial_analysis: glm-4-6  # ambiguous").replace(
            '"Claude 3.5 Haiku":\n', '"Claude 3.5 Haiku":\n  lmarena: false\n'
        )
    )
    config = yaml.safe_load(example_config.read_text())
    config["pins_file"] = str(pins)
    example_config.write_text(yaml.safe_dump(config))
    _ok("run", "-c", example_config, "--offline")
    glm = json.loads((workdir / "out" / "GLM-4.6_filled.json").read_text())
    # the pinned non-reasoning entry: its 30.2 is on a page that states no index version (refused)
    assert glm["entity_benchmarks"]["artificial_analysis"] is None
    explained = _ok("explain", "-c", example_config, "--offline", "GLM-4.6", "artificial_analysis")
    assert "= 30.2  [REJECTED: the page states no intelligence_index_version" in explained
    assert "(entry glm-4-6)" in explained
    haiku = json.loads((workdir / "out" / "Claude 3.5 Haiku_filled.json").read_text())
    assert haiku["community_score"]["lm_sys_arena_score"] is None  # rejected with false
    out = _ok("match", "-c", example_config, "--offline", "--write-pins", pins)
    assert f"{pins}: 0 decision(s) to make" in out
    kept = yaml.safe_load(pins.read_text())
    assert kept["GLM-4.6"]["artificial_analysis"] == "glm-4-6" and kept["Claude 3.5 Haiku"]["lmarena"] is False


def test_diff_after_one_recorded_price_changes_shows_exactly_that(example_config, workdir, tmp_path):
    _ok("run", "-c", example_config, "--offline")
    _ok("run", "-c", example_config, "--offline")
    assert _ok("diff", "-c", example_config, "--offline").endswith("0 change(s) since the previous load\n")
    cassette = (Path(__file__).resolve().parent.parent / "cassettes" / "openrouter_models.yaml").read_text()
    changed = cassette.replace('\\"prompt\\": \\"0.00000036\\"', '\\"prompt\\": \\"0.00000039\\"', 1)
    assert changed != cassette  # qwen/qwen-2.5-72b-instruct's input price, as the cassette stores it
    (tmp_path / "or.yaml").write_text(changed)
    import_into([tmp_path / "or.yaml"], Path(yaml.safe_load(example_config.read_text())["cache_path"]))
    _ok("run", "-c", example_config, "--offline", "--overwrite")
    out = _ok("diff", "-c", example_config, "--offline")
    assert out.splitlines() == [
        "Qwen2.5 72B Instruct: model_specs.input_price: 0.36 -> 0.39 (openrouter)",
        "1 change(s) since the previous load",
    ]


def test_attribution_file_lists_the_sources_used(example_config, workdir):
    _ok("run", "-c", example_config, "--offline")
    text = (workdir / "out" / "ATTRIBUTION.md").read_text()
    assert (
        "- **artificial_analysis**: Data from Artificial Analysis (https://artificialanalysis.ai/); attribution required wherever it is used."
        in text
    )
    assert "artificial_analysis_pro" not in text  # not used: off


def _png_colours(path: Path) -> set[tuple[int, int, int]]:
    """The set of RGB colours in a non-interlaced 8-bit RGB/RGBA PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, colours, prev = zlib.decompress(idat), width * bpp, set(), bytearray(width * bpp)
    for row in range(height):
        filt, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if filt == 1:
                line[i] = (line[i] + a) & 255
            elif filt == 2:
                line[i] = (line[i] + b) & 255
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update((line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp))
        prev = line
    return colours


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(not _chromium() and not os.environ.get("CI"), reason="Chromium not installed (CI installs it)")
@pytest.mark.slow
def test_html_report_renders_in_headless_chromium(example_config, workdir):
    page = workdir / "coverage.html"
    _ok("coverage", "-c", example_config, "--offline", "-f", "html", "--output", page)
    browser = _chromium()
    assert browser, "CI must install Chromium (.ci/run)"
    flags = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={workdir / 'chrome-profile'}",
    ]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="c"') == 10 * 56  # every model x field cell rendered
    assert dom.count('data-status="ambiguous"') == 3  # GLM-4.6, Qwen3-32B and gpt-oss-120b in AA
    assert 'data-filled="22" data-fillable="45"' in dom  # Qwen2.5 72B Instruct's count
    assert 'title="entity_benchmarks.artificial_analysis: ambiguous: artificial_analysis"' in dom
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "coverage.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1800,900", page.as_uri()], capture_output=True, timeout=120
    )
    colours = _png_colours(shot)
    for status in ("filled", "ambiguous", "conflict", "no source"):
        hex_ = {"filled": "#2e7d32", "ambiguous": "#c62828", "conflict": "#f9a825", "no source": "#eceff1"}[status]
        rgb = tuple(int(hex_[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, f"no {status} cell ({hex_}) in the rendered page"


def test_guided_mode_end_to_end_through_its_prompts(workdir, warm_store):
    store = workdir / "s.sqlite"
    store.write_bytes(warm_store.read_bytes())
    models = workdir / "Models"
    models.mkdir()
    template = json.loads((workdir / "templates" / "template.json").read_text())
    for name, hf in [("DeepSeek V3", "deepseek-ai/DeepSeek-V3"), ("GLM-4.6", None), ("Claude 3.5 Haiku", None)]:
        data = json.loads(json.dumps(template))
        data["model_specs"]["model_name"] = name
        if hf:
            data["hf_id"] = hf
        (models / f"{name}.json").write_text(json.dumps(data))
    # keys skipped, a wrong folder then the right one, pick 2 of 3, default output, not verbose
    answers = "\n\nnowhere\nModels\nn\n0\n2-3\nout\n\n"
    result = cli("launch", "--cache-path", str(store), "--offline", input=answers)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "nowhere: input folder not found" in out
    assert (
        "Found 3 model(s):\n  1. Claude 3.5 Haiku  (Claude 3.5 Haiku.json)\n  2. DeepSeek V3  (DeepSeek V3.json)\n  3. GLM-4.6  (GLM-4.6.json)"
        in out
    )
    assert "give numbers between 1 and 3, like 1,3-4" in out
    assert "Saved 2 file(s) in out; 0 failed." in out
    assert sorted(p.name for p in (workdir / "out").glob("*_filled.json")) == [
        "DeepSeek V3_filled.json",
        "GLM-4.6_filled.json",
    ]
    assert "ambiguous 1 (artificial_analysis)" in out  # the recap, per model


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
