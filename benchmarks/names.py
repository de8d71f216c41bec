"""Fields filled for the 60 most-voted LMArena names, offline, from the bundled cassettes (issue 14).

    python benchmarks/names.py            # from the repository root, in its venv

A new user's run: the 60 most-voted models of the recorded LMArena table (cassettes/lmarena_rows.yaml,
the rows of shared/data/boards/lmarena_text.2025-08-04.csv) under the names LMArena gives them, no
hf_id, no pins. The cassettes go into a fresh cache in a temporary folder, ``etl run --offline`` fills
one file per name (zero requests), and this prints the run's own total ("N/M fields filled over 60
models") and the matches per source. Before issue 14 the figure was 153 of 1,440.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from etl.mappings import load_mappings

ROOT = Path(__file__).resolve().parent.parent
N = 60


def top_names(n: int = N) -> list[str]:
    _, responses = FilesystemPersister.load_cassette(str(ROOT / "cassettes" / "lmarena_rows.yaml"), yamlserializer)
    rows = [r["row"] for resp in responses for r in json.loads(resp["body"]["string"])["rows"]]
    rows.sort(key=lambda r: -r["vote_count"])
    return [r["model_name"] for r in rows[:n]]


def etl(*args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "etl", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"etl {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = {
            "template_path": str(ROOT / "examples" / "templates" / "template.json"),
            "cache_path": str(work / "etl.sqlite"),
            "output_dir": str(work / "out"),
            "models": top_names(),
            # the cassettes hold Hugging Face answers only for the example's repos: the keys the
            # catalogs publish for these 60 names would be cache misses offline
            "sources": {name: {"enabled": False} for name in ("huggingface", "huggingface_config", "hf_eval_results")},
        }
        (work / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        etl("cache", "import", *map(str, sorted((ROOT / "cassettes").glob("*.yaml"))), "-c", "config.yaml", cwd=work)
        out = etl("run", "-c", "config.yaml", "--offline", "--log-level", "WARNING", cwd=work)
        total = re.search(r"^(\d+)/(\d+) fields filled over (\d+) models$", out, re.M)
        matches = etl("match", "-c", "config.yaml", "--offline", cwd=work)
    per_source: Counter[str] = Counter()
    for line in matches.splitlines():
        parts = line.split()
        source = next((p for p in parts if p in SOURCES), None)
        if source and " matched " in f" {line} ":
            per_source[source] += 1
    if not total:
        raise SystemExit(f"no total line in the run's output:\n{out}")
    print(f"{total.group(1)}/{total.group(2)} fields filled over {total.group(3)} models (before issue 14: 153/1440)")
    print("matched per source: " + ", ".join(f"{s} {per_source[s]}" for s in SOURCES if per_source[s]))


SOURCES = sorted(load_mappings().sources)

if __name__ == "__main__":
    main()
