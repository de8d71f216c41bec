"""Every tunable of the tool, with its named default, in one place.

Config files, environment variables and CLI flags override these; nothing else in the package
hard-codes a number that a user might want to change.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: Where filled files go when neither the config nor ``--output-dir`` says.
DEFAULT_OUTPUT_DIR = "filled_models"
#: The output file name; {name} is the model's file-safe name ("{name}.json": what LLMScoreEngine reads).
DEFAULT_OUTPUT_NAME = "{name}_filled.json"
#: model_specs.param_count as LLMScoreEngine's size tiers compare it: a raw count ("billions" also works).
DEFAULT_PARAM_COUNT_UNIT = "count"
#: The consumer whose acceptance rules give each written model its verdict (a schema of schemas/).
DEFAULT_CONSUMER_SCHEMA = "llmscoreengine.schema.json"
#: The application's folder name in the user's cache folder (platformdirs).
APP_NAME = "llm-benchmark-etl"
#: One SQLite file holds the HTTP cache (requests-cache) and the staged tables (sqlite-utils).
STORE_FILE = "etl.sqlite"
#: The environment variable naming another store; a config's ``cache_path`` and ``--cache-path`` win over it.
STORE_ENV = "ETL_CACHE_PATH"
#: How long a cached response is fresh; past it ``extract`` re-fetches (offline runs still use it).
DEFAULT_TTL_HOURS = 24.0
#: Seconds before a request is abandoned (connect and read).
DEFAULT_TIMEOUT = 30.0
#: Attempts after the first one, on 429, 5xx, time-outs and connection errors.
DEFAULT_MAX_RETRIES = 3
#: Backoff base in seconds: waits are factor * 2**attempt, plus up to 25% jitter.
DEFAULT_RETRY_BACKOFF_FACTOR = 1.0
#: Never sleep longer than this for one retry; a longer Retry-After stops the source instead.
DEFAULT_MAX_RETRY_WAIT = 120.0
#: Requests per second when neither the source's YAML nor the config sets one.
DEFAULT_RATE_LIMIT = 5.0
#: Models matched, staged and loaded per batch (on a worker process for a large run, etl/store/workers.py):
#: with at most two batches per worker in flight, memory stays flat at 10,000+ models.
MODELS_PER_BATCH = 50
#: Below this many models a stage runs in one process (forking costs more than it saves).
PARALLEL_MIN_MODELS = 200
#: Most worker processes a stage uses when the config's ``workers`` is not set (one per core up to this).
MAX_WORKERS = 4
#: Seconds a worker process may take to open its connections before the stage runs in one process.
WORKER_START_TIMEOUT = 60.0
#: A catalog's index is kept in the store when its cached responses weigh at most this (the
#: largest real catalog: 2.3 MB; the 10,000-model benchmark's: 6.5 MB).
KEPT_INDEX_MAX_BYTES = 16 * 2**20
#: A batch goes on after one model fails, unless the config says otherwise.
DEFAULT_CONTINUE_ON_ERROR = True
#: Sent with every request so services can tell who is calling.
USER_AGENT = "llm-benchmark-etl/0.1 (+https://github.com/llm-benchmark-etl)"
#: Env variables read for keys when neither flags nor config give them (see mappings/sources.yaml).
DOTENV_FILE = ".env"


def default_store_path() -> Path:
    """One store per user, whatever folder a command runs from: ``$ETL_CACHE_PATH``, else
    ``etl.sqlite`` in the user's cache folder (``~/.cache/llm-benchmark-etl`` on Linux). A relative
    ``$ETL_CACHE_PATH`` is made absolute at once, so the recap names the one file it means."""
    chosen = os.environ.get(STORE_ENV, "").strip()
    return Path(chosen).expanduser().absolute() if chosen else user_store_path()


def user_store_path() -> Path:
    """The store in the user's cache folder (what a fresh machine uses)."""
    return platformdirs.user_cache_path(APP_NAME) / STORE_FILE


def _data_dir(name: str) -> Path:
    """Find ``mappings/`` or ``schemas/``: inside the installed package, else in the checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the {name}/ folder is missing from the installation ({here})")


def mappings_dir() -> Path:
    return _data_dir("mappings")


def schemas_dir() -> Path:
    return _data_dir("schemas")


#: Seconds one request may take in all (connect, headers, body, redirects): a trickling server
#: is cut there. A source's ``deadline`` overrides it.
DEFAULT_DEADLINE = 120.0
#: The largest body accepted, counted after decompression; a source's ``max_body`` overrides it.
#: 8x the largest real one (SWE-bench's leaderboards, 4 MB): a body is held ~5 times at its peak
#: (read, parsed, then serialized and written by the cache), so 32 MiB keeps a run under ~300 MB.
DEFAULT_MAX_BODY_BYTES = 32 * 2**20
#: Seconds added to each rolling rate-limit window, so network jitter cannot squeeze ``rate + 1``
#: arrivals into one second at the server.
DEFAULT_RATE_MARGIN = 0.1
#: A Retry-After or reset further away than this is absurd: treated as beyond the ceiling.
ABSURD_WAIT_SECONDS = 10 * 365 * 86400.0
#: Seconds a request in flight may still finish after Ctrl-C/SIGTERM (so its answer is cached)
#: before its connection is cut.
CANCEL_GRACE = 0.5
#: Share of a catalog page's records a refresh may lose before it counts as a failure (and the
#: cached copy stays in use); per source: shrink_limit in YAML or sources.<name>.shrink_limit.
DEFAULT_SHRINK_LIMIT = 0.5
#: Files one model's listing document may name for a ``listed_by`` source (one request each, with
#: the user's key); past it none is fetched. Per source: ``listed_by.max_files`` in its YAML.
DEFAULT_MAX_LISTED_FILES = 50
