"""Many catalog entries publishing one Hugging Face repo (issue 18, item 3): time, memory, store size.

    python benchmarks/shared_key.py                  # 2,000 and 10,000 models
    python benchmarks/shared_key.py --sizes 2000

Issue 18 measured 27 s / 1.4 GB / a 207 MB store at 2,000 models and 496 s / 6.9 GB / 5.5 GB at
10,000 when every OpenRouter entry publishes the same ``hugging_face_id``: each model's join key then
hit every entry and was stored as an N-candidate ambiguity. For each size N this builds a cassette of
one OpenRouter catalog whose N entries ("Acme: Foo <i>") all publish ``acme/Foo``, imports it into a
fresh store, and runs ``etl run --offline`` (OpenRouter only, every other source off) in a fresh
subprocess, three ways:

- ``discovered``: N models "Foo <i>" without hf_id (each entry's key is checked and refused: its
  repo name lacks the entry's number);
- ``given``: the same models, each with ``hf_id: acme/Foo`` (the key hits N entries; the name says which);
- ``unnamed``: N models "Bar <i>" with ``hf_id: acme/Foo`` (the key hits N entries, no name narrows
  them: ambiguous, CANDIDATES listed each).

It prints wall time, the child's peak RSS (os.wait4) and the store's size, and the matched /
ambiguous counts from the store. Nothing is sent anywhere: the run is offline.

Measured 2026-12-06 on the shared 2-core machine (other jobs running: wall times are loose):

    size    way         before (main)                       after
    2,000   discovered  47.8 s, 1,420 MB, 258 MB, ambiguous  16.6 s, 72 MB, 3.8 MB, matched
    2,000   given       50.8 s, 1,420 MB, 258 MB, ambiguous  13.3 s, 72 MB, 3.7 MB, matched
    2,000   unnamed     42.5 s, 1,420 MB, 258 MB, ambiguous  15.4 s, 77 MB, 3.2 MB, ambiguous (20 listed)
    10,000  discovered  (not re-run: issue 18 gives 496 s, 6.9 GB)  51.5 s, 105 MB, 19.0 MB, matched
    10,000  given                                            64.4 s, 99 MB, 18.1 MB, matched
    10,000  unnamed                                          98.7 s, 102 MB, 15.7 MB, ambiguous (20 listed)

("before" is the same script with PYTHONPATH pointing at main's code.)
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
URL = "https://openrouter.ai/api/v1/models"


def cassette(n: int, path: Path) -> None:
    price = {"pricing": {"prompt": "0.000001", "completion": "0.000002"}, "context_length": 8192}
    data = [{"id": f"acme/foo-{i}", "name": f"Acme: Foo {i}", "hugging_face_id": "acme/Foo", **price} for i in range(n)]
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["application/json"], "Date": ["Tue, 01 Dec 2026 00:00:00 GMT"]},
        "body": {"string": json.dumps({"data": data})},
    }
    request = {"body": None, "headers": {}, "method": "GET", "uri": URL}
    doc = {"interactions": [{"request": request, "response": response}], "version": 1}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")


def run(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of one ``etl`` child (os.wait4: its own, not the largest so far)."""
    start = time.perf_counter()
    with open(cwd / "stdout.txt", "wb") as out, open(cwd / "stderr.txt", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "etl", *args], cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1: models left incomplete, as expected here
        raise SystemExit(f"etl {' '.join(args)} exited {code}:\n{(cwd / 'stderr.txt').read_text()}")
    return wall, usage.ru_maxrss / 1024


def measure(n: int, way: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cassette(n, work / "openrouter.yaml")
        names = [f"{'Bar' if way == 'unnamed' else 'Foo'} {i}" for i in range(n)]
        models = [{"name": m, "hf_id": "acme/Foo"} if way != "discovered" else m for m in names]
        from etl.declared.mappings import load_mappings

        off = {s: {"enabled": False} for s in load_mappings().sources if s != "openrouter"}
        config = {
            "template_path": str(ROOT / "examples" / "templates" / "template.json"),
            "cache_path": str(work / "etl.sqlite"),
            "output_dir": str(work / "out"),
            "models": models,
            "sources": off,
        }
        (work / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        subprocess.run(
            [sys.executable, "-m", "etl", "cache", "import", "openrouter.yaml", "-c", "config.yaml"],
            cwd=work,
            check=True,
            capture_output=True,
        )
        wall, rss = run(["run", "-c", "config.yaml", "--offline", "--log-level", "WARNING"], work)
        size = (work / "etl.sqlite").stat().st_size / 1e6
        with sqlite3.connect(work / "etl.sqlite") as db:
            counts = dict(db.execute("select status, count(*) from matches where source='openrouter' group by status"))
            longest = db.execute("select max(length(candidates)) from matches").fetchone()[0]
    return {
        "models": n,
        "way": way,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(rss),
        "store_mb": round(size, 1),
        "openrouter": counts,
        "largest_candidates_bytes": longest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    opts = parser.parse_args()
    for n in opts.sizes:
        for way in ("discovered", "given", "unnamed"):
            print(json.dumps(measure(n, way)), flush=True)


if __name__ == "__main__":
    main()
