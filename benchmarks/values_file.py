"""Benchmark: the cost of a big values file in an offline run (issue 18, item 7).

    python benchmarks/values_file.py                       # 10,000 models, 5 entries each
    python benchmarks/values_file.py --models 2000 --fields 5

Generates N models (no hf_id: no per-model request is needed) and a values file with one cited
entry per model and field, imports the bundled cassettes into a fresh store, then times, each in a
fresh ``etl run --offline`` subprocess, the run with the values file and the same run without it.
Prints the wall times; nothing is sent anywhere (offline, cassettes only).

Measured 2026-12-06 on the 2-core machine shared with other jobs (wall times vary with the load;
the child's CPU time is the steadier figure), 10,000 models x 5 fields = 50,000 entries:

    before (e286214):  without 100.4 s wall / 30.2 s CPU, with 345.0 s wall / 115.6 s CPU  (+85 s CPU:
                       for_model scanned every value per model, a list scan per model name, the key
                       lines composed by the pure-Python parser)
    after:             without  81.6 s wall / 29.8 s CPU, with  93.9 s wall /  36.5 s CPU  (+7 s CPU:
                       reading, checking and staging the 50,000 entries)
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
FIELDS = [
    ("model_specs.context_window", 131072),
    ("model_specs.input_price", 0.5),
    ("model_specs.output_price", 1.5),
    ("model_specs.param_count", 7_000_000_000),
    ("model_specs.architecture", "dense"),
]


def _run(config: Path, store: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): on a shared machine the CPU time is the steadier."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "etl",
            "run",
            "-c",
            str(config),
            "--offline",
            "--cache-path",
            str(store),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"etl run failed ({done.returncode}): {done.stderr[-2000:]}")
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--fields", type=int, default=5, choices=range(1, len(FIELDS) + 1))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = work / "etl.sqlite"
        cassettes = sorted(str(p) for p in (ROOT / "cassettes").glob("*.yaml"))
        subprocess.run(
            [sys.executable, "-m", "etl", "cache", "import", *cassettes, "--cache-path", str(store)],
            check=True,
            capture_output=True,
        )
        names = [f"Bench Model {i}" for i in range(args.models)]
        values = {
            "models": {n: {f: {"value": v, "source": "benchmark"} for f, v in FIELDS[: args.fields]} for n in names}
        }
        (work / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
        base = {"template_path": str(ROOT / "examples" / "templates" / "template.json"), "models": names}
        (work / "without.yaml").write_text(yaml.safe_dump(base))
        (work / "with.yaml").write_text(yaml.safe_dump({**base, "values_file": "values.yaml"}))
        entries = args.models * args.fields
        without = _run(work / "without.yaml", store, work / "out-without")
        with_values = _run(work / "with.yaml", store, work / "out-with")
        print(f"{args.models} models, {entries} values-file entries: etl run --offline")
        print(f"  without values file: {without[0]:.1f} s wall, {without[1]:.1f} s CPU")
        print(f"  with values file:    {with_values[0]:.1f} s wall, {with_values[1]:.1f} s CPU")


if __name__ == "__main__":
    main()
