"""Benchmark harness: synthetic models served by a local HTTP server, figures printed and saved.

    python benchmarks/run.py                 # 100, 1,000 and 10,000 models
    python benchmarks/run.py --sizes 1000    # one size

For each size N it generates N models and serves every shipped source from 127.0.0.1, none
switched off: the catalogs the models are in are synthetic, in the recorded shapes (AA free pages
of 200, one OpenRouter catalog, LMArena datasets-server pages of 100), and so are the per-model
responses (Hugging Face model info and config.json per model; every 10th model info lists one
``.eval_results`` file, served with a recorded body); every other catalog (AA Pro too, enabled with
a fake key the local server never checks) is served its recorded responses from cassettes/*.yaml,
read with vcrpy's own loader. Each source's URL is ``/<source>/<host><path>``, so requests are
counted per source. Each stage runs in a fresh ``etl`` subprocess (its peak RSS and CPU time are
its own, read with os.wait4):

- cold extract, rate limits off: requests sent and wall time;
- cold extract, rate limits on: wall time against the floor (the slowest source's requests / its
  rate). Per-model sources get ``--rate`` requests/s (default 100), catalogs 10/s: the real rates
  (Hugging Face: 500 calls / 5 min anonymous) would make 10,000 models take hours, and what is
  measured is whether the run costs the slowest source's floor and not the sum of all of them;
- warm re-run of extract inside the TTL: requests sent (must be 0);
- warm offline ``etl run --offline`` (transform + load): wall time, CPU time (the run and its worker
  processes) and memory, the median of ``--repeat`` runs, each from the store as extract left it
  (which holds the catalog indexes extract kept; the copy synced to disk first), into a new output
  folder (first-run files, as a user's first run writes them); a digest of the files written (the same before
  and after a change that must not change outputs). Memory: the largest single process's peak RSS
  (os.wait4), and the peak of the run's PSS and RSS summed over its processes, sampled every 50 ms
  from /proc (forked workers share most pages: PSS counts a shared page once, summed RSS once per
  process).

Results go to benchmarks/results.json. Nothing is sent anywhere but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "examples" / "templates" / "template.json"


CASSETTES = ROOT / "cassettes"
#: every 10th synthetic repo lists one ``.eval_results`` file, served with this recorded body
EVAL_FILE = ".eval_results/gpqa.yaml"
EVAL_BODY_FROM = "https://huggingface.co/google/gemma-4-12B-it/resolve/main/.eval_results/gpqa.yaml"


def route_key(url: str) -> str:
    """host + path + sorted query: where the server files a declared or recorded URL."""
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query)))
    return parts.netloc + parts.path + ("?" + query if query else "")


def recorded() -> dict[str, tuple[int, str, bytes]]:
    """Every recorded response of cassettes/*.yaml (vcrpy's own loader), by route key."""
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.serializers import yamlserializer

    routes = {}
    for path in sorted(CASSETTES.glob("*.yaml")):
        for req, rec in zip(*FilesystemPersister.load_cassette(str(path), yamlserializer), strict=True):
            body = rec["body"]["string"]
            kind = next((", ".join(v) for k, v in rec["headers"].items() if k.lower() == "content-type"), "")
            routes[route_key(req.uri)] = (
                rec["status"]["code"],
                kind,
                body if isinstance(body, bytes) else body.encode(),
            )
    return routes


def served_urls(base: str) -> dict[str, dict]:
    """Config ``sources:`` overrides pointing every shipped source (and its companions) here,
    under ``/<source>/<host><path>`` (the server counts requests per source by the first segment);
    every source is on (AA Pro too: the harness sends a fake key)."""
    from etl.declared.mappings import load_mappings

    def here(name: str, url: str) -> str:
        parts = urlsplit(url)
        return f"{base}/{name}/{parts.netloc}{parts.path}"

    out = {}
    for name, source in load_mappings().sources.items():
        out[name] = {"url": here(name, source.url), "enabled": True}
        if source.companions:
            out[name]["companions"] = {k: here(name, c["url"]) for k, c in source.companions.items()}
    return out


def synthetic(n: int) -> dict:
    """Catalogs for n models, in the recorded shapes."""
    aa = [
        {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "name": f"Bench Model {i} 7B",
            "slug": f"bench-model-{i}-7b",
            "release_date": "2025-01-01",
            "model_creator": {"id": "bench", "name": "Bench"},
            "evaluations": {
                "artificial_analysis_intelligence_index": round(10 + (i % 50) * 0.7, 1),
                "artificial_analysis_coding_index": None,
                "artificial_analysis_agentic_index": None,
            },
            "artificial_analysis_intelligence_index_cost": None,
            "pricing": {
                "price_1m_input_tokens": 0.1 + (i % 7) / 10,
                "price_1m_output_tokens": 0.4 + (i % 5) / 10,
                "price_1m_cache_hit_tokens": None,
                "price_1m_cache_write_tokens": None,
            },
            "performance": {"median_output_tokens_per_second": 50.0, "median_time_to_first_token_seconds": 0.5},
        }
        for i in range(n)
    ]
    openrouter = [
        {
            "id": f"bench/bench-model-{i}",
            "canonical_slug": f"bench/bench-model-{i}-2025",
            "hugging_face_id": f"bench-org/bench-model-{i}",
            "name": f"Bench: Bench Model {i} 7B",
            "context_length": 32768 + i,
            "pricing": {"prompt": "0.0000002", "completion": "0.0000008"},
            "top_provider": {"context_length": 32768, "max_completion_tokens": 8192},
        }
        for i in range(n)
    ]
    arena = [
        {
            "model_name": f"bench-model-{i}-7b",
            "organization": "Bench",
            "rating": 1000.0 + i % 400,
            "rating_lower": 990.0,
            "rating_upper": 1010.0,
            "vote_count": 1000,
            "rank": i + 1,
            "category": "overall",
            "leaderboard_publish_date": "2025-08-04",
        }
        for i in range(n)
    ]
    return {"aa": aa, "openrouter": openrouter, "arena": arena}


class Server:
    """Serves the synthetic sources and every other source's recorded responses; counts requests."""

    def __init__(self, data: dict):
        self.data, self.counts, self.lock = data, {}, threading.Lock()
        self.routes = recorded()
        self.eval_body = self.routes[route_key(EVAL_BODY_FROM)][2]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802
                status, body = outer.answer(self.path)
                kind, raw = "application/json", body
                if isinstance(body, tuple):  # a recorded response: its own status, type and bytes
                    status, kind, raw = body
                elif not isinstance(body, bytes):
                    raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self, source: str) -> None:
        with self.lock:
            self.counts[source] = self.counts.get(source, 0) + 1

    def answer(self, path: str) -> tuple[int, object]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        source, *segs = parts.path.strip("/").split("/")
        self.count(source)
        host, rest = segs[0], "/" + "/".join(segs[1:])
        if host == "artificialanalysis.ai" and rest == "/api/v2/language/models/free":
            page = int(query.get("page", 1))
            rows = self.data["aa"][(page - 1) * 200 : page * 200]
            pages = max(1, -(-len(self.data["aa"]) // 200))
            return 200, {
                "tier": "free",
                "intelligence_index_version": 4.1,
                "pagination": {"page": page, "page_size": 200, "total_pages": pages, "has_more": page < pages},
                "data": rows,
            }
        if host == "openrouter.ai":
            return 200, {"data": self.data["openrouter"]}
        if host == "datasets-server.huggingface.co" and query.get("dataset") == "lmarena-ai/leaderboard-dataset":
            offset = int(query.get("offset", 0))
            rows = self.data["arena"][offset : offset + 100]
            return 200, {
                "rows": [{"row_idx": offset + j, "row": r, "truncated_cells": []} for j, r in enumerate(rows)],
                "num_rows_total": len(self.data["arena"]),
            }
        if host == "huggingface.co" and segs[1:3] == ["api", "models"] and len(segs) == 5:
            i = int(segs[4].rsplit("-", 1)[1])
            info = {
                "id": f"{segs[3]}/{segs[4]}",
                "downloads": 1000 + i,
                "likes": 10 + i % 100,
                "createdAt": "2025-01-01T00:00:00.000Z",
                "config": {},
                "safetensors": {"parameters": {"BF16": 7_241_732_096}, "total": 7_241_732_096},
            }
            if i % 10 == 0:  # hf_eval_results: one listed file
                info["siblings"] = [{"rfilename": "config.json"}, {"rfilename": EVAL_FILE}]
            return 200, info
        if host == "huggingface.co" and segs[2].startswith("bench-model-") and segs[3:5] == ["resolve", "main"]:
            i = int(segs[2].rsplit("-", 1)[1])
            if segs[5:] == ["config.json"]:
                return 200, {"model_type": "mixtral", "num_local_experts": 8} if i % 3 == 0 else {"model_type": "llama"}
            if "/".join(segs[5:]) == EVAL_FILE:
                return 200, (200, "text/yaml", self.eval_body)
        key = route_key("http://" + path.lstrip("/").split("/", 1)[1])
        if key in self.routes:
            return 200, self.routes[key]
        self.count("404")
        return 404, {"error": "not found"}

    def total(self) -> int:
        return sum(v for k, v in self.counts.items() if k != "404")

    def close(self) -> None:
        self.httpd.shutdown()


def _tree(pid: int) -> list[int]:
    """The process and its descendants (the worker processes of a large run)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            todo += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except (OSError, ValueError):
            continue
    return out


def _tree_memory(pid: int) -> tuple[float, float]:
    """(PSS, RSS) in MB summed over the process tree: PSS shares a page between the processes that
    map it (forked workers share most of theirs); summed RSS counts a shared page once per process."""
    pss = rss = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return pss / 1024, rss / 1024


class MemorySampler(threading.Thread):
    """Every 50 ms, the run's memory summed over its processes; keeps the peaks."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_pss, self.peak_rss, self.done = pid, 0.0, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            pss, rss = _tree_memory(self.pid)
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)


def run_etl(args: list[str], cwd: Path, env: dict) -> tuple[float, float, int, float, float, float]:
    """(wall seconds, peak RSS MB of the largest process, exit code, CPU seconds user + system of
    the run and its workers, peak PSS MB and peak RSS MB summed over the run's processes) of one
    ``etl`` subprocess (on a shared machine the CPU time says more than the wall time)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "etl", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    sampler = MemorySampler(proc.pid)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"etl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    return (
        wall,
        usage.ru_maxrss / 1024,
        proc.returncode,
        usage.ru_utime + usage.ru_stime,
        sampler.peak_pss,
        sampler.peak_rss,
    )


def bench(n: int, rate: float, repeat: int = 1, keep: bool = False) -> dict:
    data = synthetic(n)
    server = Server(data)
    work = Path(tempfile.mkdtemp(prefix=f"etl-bench-{n}-"))
    # Python writes the package's bytecode on the first run, as it does for a user (an editable
    # install is not byte-compiled by pip; PYTHONDONTWRITEBYTECODE in the environment would have
    # every measured run compile etl/ from source again: 0.09 s)
    env = {**os.environ, "ARTIFICIAL_ANALYSIS_API_KEY": "bench-key-not-secret"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        shutil.copy(TEMPLATE, work / "template.json")
        models = [
            {
                "name": f"Bench Model {i} 7B",
                "hf_id": f"bench-org/bench-model-{i}",
                "ids": {"lmarena": f"bench-model-{i}-7b"},
            }
            for i in range(n)
        ]
        #: the synthetic sources' requests (the recorded catalogs add theirs, counted by the server)
        requests = {
            "artificial_analysis": -(-n // 200),
            "openrouter": 1,
            "lmarena": -(-n // 100),
            "huggingface": n,
            "huggingface_config": n,
            "hf_eval_results": -(-n // 10),
        }
        urls = served_urls(server.url)

        def config(name: str, rates: dict[str, float]) -> str:
            cfg = {
                "template_path": "template.json",
                "cache_path": f"{name}.sqlite",
                "output_dir": f"out-{name}",
                "models": models,
                "max_retries": 0,
                "sources": {s: {**u, "rate_limit": rates[s]} for s, u in urls.items()},
            }
            (work / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
            return f"{name}.yaml"

        off = config("off", dict.fromkeys(urls, 1_000_000.0))
        cold_wall, cold_rss, *_ = run_etl(["extract", "-c", off, "--log-level", "WARNING"], work, env)
        sent, missing, per_source = server.total(), server.counts.get("404", 0), dict(server.counts)
        if missing:
            raise SystemExit(f"{missing} requests found no synthetic or recorded response")
        recorded_sent = sum(v for k, v in per_source.items() if k not in requests)
        expected = sum(requests.values()) + recorded_sent
        requests = {s: per_source.get(s, 0) for s in urls}  # the recorded catalogs' pages too
        server.counts.clear()
        warm_wall, *_ = run_etl(["extract", "-c", off, "--log-level", "WARNING"], work, env)
        warm_sent = server.total()
        # each offline run starts from the store as extract left it: a run records what it loaded,
        # and the next one would keep values it no longer finds (a measured run is a first run)
        shutil.copy(work / "off.sqlite", work / "off.extracted.sqlite")
        offline = []
        for i in range(repeat):
            # Each run writes a folder of its own, and the store's copy is on disk before it starts:
            # the harness's own file work is not the run's. An output folder deleted just before a
            # run made ext4 skip the freed inodes on every create (0.7 ms a file, measured with
            # strace and perf: find_inode_bit/recently_deleted, against 0.04 ms in a fresh folder),
            # and the copy's dirty pages were written back during the run.
            shutil.copy(work / "off.extracted.sqlite", work / "off.sqlite")
            os.sync()
            out = f"out-off-{i}"
            offline.append(run_etl(["run", "-c", off, "--offline", "-o", out, "--log-level", "WARNING"], work, env))
        offline_wall = statistics.median(run[0] for run in offline)
        offline_cpu = statistics.median(run[3] for run in offline)
        offline_rss = max(run[1] for run in offline)
        offline_pss = max(run[4] for run in offline)  # summed over the run's processes (workers)
        offline_rss_sum = max(run[5] for run in offline)
        code = offline[-1][2]
        files = sorted((work / f"out-off-{repeat - 1}").glob("*"))
        written = sum(1 for f in files if f.name.endswith("_filled.json"))
        if written != n:  # a figure for a run that did not write every file measures nothing
            raise SystemExit(f"etl run --offline wrote {written} of {n} files (exit code {code})")
        digest = hashlib.sha256()
        for f in files:
            if f.is_file():
                digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")

        per_model = {s for s in urls if "{hf_id}" in urls[s]["url"]}
        rates = {s: (rate if s in per_model else 10.0) for s in urls}
        floor_s = max(requests[s] / rates[s] for s in requests)
        on = config("on", rates)
        server.counts.clear()
        limited_wall, *_ = run_etl(["extract", "-c", on, "--log-level", "WARNING"], work, env)
        serial_floor = sum(requests[s] / rates[s] for s in requests)
        return {
            "models": n,
            "requests_sent_cold": sent,
            "requests_expected": expected,
            "requests_recorded_catalogs": recorded_sent,
            "cold_extract_s_limits_off": round(cold_wall, 2),
            "cold_extract_peak_rss_mb": round(cold_rss, 1),
            "cold_extract_s_limits_on": round(limited_wall, 2),
            "floor_s": round(floor_s, 2),
            "serial_floor_s": round(serial_floor, 2),
            "vs_floor_pct": round(100 * (limited_wall - floor_s) / floor_s, 1),
            "rates_per_s": {s: round(r, 3) for s, r in rates.items()},
            "warm_rerun_requests": warm_sent,
            "warm_rerun_s": round(warm_wall, 2),
            "warm_offline_run_s": round(offline_wall, 2),
            "warm_offline_runs_s": [round(run[0], 2) for run in offline],
            "warm_offline_cpu_s": round(offline_cpu, 2),
            "warm_offline_runs_cpu_s": [round(run[3], 2) for run in offline],
            "warm_offline_peak_rss_mb": round(offline_rss, 1),  # the largest single process
            "warm_offline_peak_pss_mb_all_processes": round(offline_pss, 1),
            "warm_offline_peak_rss_mb_all_processes": round(offline_rss_sum, 1),
            "files_written": written,
            "outputs_sha256": digest.hexdigest(),
            "offline_exit_code": code,
        }
    finally:
        server.close()
        if keep:
            print(f"kept: {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s for per-model sources when limits are on")
    parser.add_argument("--repeat", type=int, default=1, help="offline runs per size (the median is reported)")
    parser.add_argument("--keep", action="store_true", help="keep each size's work directory (cache, outputs)")
    parser.add_argument("--note", default="", help="the machine's state (quiet, shared...), saved with the figures")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args()
    machine = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "system": platform.platform(),
    }
    rows = []
    head = f"{'models':>7} {'requests':>9} {'cold off s':>10} {'cold on s':>9} {'floor s':>7} {'vs floor':>8} {'warm req':>8} {'offline s':>9} {'CPU s':>6} {'RSS MB':>7} {'PSS all':>7}"
    print(head)
    for n in args.sizes:
        r = bench(n, args.rate, args.repeat, args.keep)
        rows.append(r)
        print(
            f"{r['models']:>7} {r['requests_sent_cold']:>9} {r['cold_extract_s_limits_off']:>10} {r['cold_extract_s_limits_on']:>9} "
            f"{r['floor_s']:>7} {r['vs_floor_pct']:>7}% {r['warm_rerun_requests']:>8} {r['warm_offline_run_s']:>9} {r['warm_offline_cpu_s']:>6} {r['warm_offline_peak_rss_mb']:>7} "
            f"{r['warm_offline_peak_pss_mb_all_processes']:>7}",
            flush=True,
        )
    measured = {"at": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "repeat": args.repeat, "note": args.note}
    args.out.write_text(json.dumps({"machine": machine, "measured": measured, "results": rows}, indent=2) + "\n")
    print(f"rates with limits on (requests/s): {rows[-1]['rates_per_s']}")
    print(f"machine: {machine}\nwritten: {args.out}")


if __name__ == "__main__":
    main()
