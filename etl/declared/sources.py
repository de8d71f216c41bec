"""The sources of a run, resolved once from the mappings and the config: which are active, at
which URL and rate, with which key. Extract, the log redaction and cassette import all read this
one view, so an override, a rate flag or a key is looked up in exactly one place.

Precedence for a key: the flag (or Python API value) of the source's auth (``<auth>_key``),
then the environment variables its ``auth.env`` lists, in order (``.env`` included when the config
was loaded from a file), then the config file. Keys are stripped of surrounding whitespace (a key file ending in a newline
works); a key with a control character inside is refused without echoing it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

from .. import settings
from ..errors import UsageError
from .config import ModelInfo, PipelineConfig
from .mappings import Mappings, Source
from .validation import suggest


class Sources:
    """The declared sources, the active ones (enabled and used by some mapping, with the config's
    overrides applied), their rates and their keys."""

    def __init__(self, mappings: Mappings, config: PipelineConfig):
        unknown = [n for n in config.sources if n not in mappings.sources]
        if unknown:
            raise UsageError(
                [f"{config.origin}: sources.{n}: unknown source: {suggest(n, mappings.sources)}" for n in unknown]
            )
        self.declared = mappings.sources
        self.names = mappings.names  # developers and aliases: how every source's names are read
        used = mappings.used_sources()
        environ = config.environ if config.environ is not None else os.environ
        self.keys = {n: k for n, s in self.declared.items() if (k := _key(s, config, environ))}
        self.active: dict[str, Source] = {}
        self.rates: dict[str, float] = {}
        for name, source in self.declared.items():
            override = config.sources.get(name, {})
            if name in used and override.get("enabled", source.enabled):
                self.active[name] = _overridden(source, override)
                self.rates[name] = _rate(source, override, config)

    @property
    def secrets(self) -> list[str]:
        """Every key in use: what logs, errors and stored text must never contain."""
        return sorted(set(self.keys.values()))

    @property
    def key_hosts(self) -> dict[str, str]:
        """The host each keyed source declares in its YAML: a key is sent there only (or to loopback)."""
        return {n: urlsplit(s.url).netloc for n, s in self.declared.items() if s.auth}

    @property
    def auth_headers(self) -> list[str]:
        """Headers that carry keys: never part of a cache key, never stored."""
        return sorted({s.auth["header"] for s in self.declared.values() if s.auth})

    def missing_key(self, name: str) -> str | None:
        """Why a source that needs a key is skipped ('no key (set VAR)'), or None."""
        source = self.declared[name]
        if source.auth and source.auth.get("required") and name not in self.keys:
            return f"no key (set {' or '.join(source.key_envs)})"
        return None

    def headers(self, name: str) -> dict[str, str]:
        """The auth header of a source, when it has a key."""
        auth, key = self.declared[name].auth, self.keys.get(name)
        return {auth["header"]: auth.get("prefix", "") + key} if auth and key else {}

    def source_for(self, url: str) -> Source | None:
        """The declared source a URL belongs to (its declared URL, placeholders as wildcards)."""
        bare = url.split("?", 1)[0]
        for source in self.declared.values():
            pattern = re.escape(source.url.split("?", 1)[0])
            for name in source.placeholders:
                pattern = pattern.replace(re.escape("{" + name + "}"), ".+")
            if re.fullmatch(pattern, bare):
                return source
        return None


def url_for(source: Source, model: ModelInfo, file: str | None = None) -> str | None:
    """A per-model URL with the model's values, or None when the model lacks one (``{hf_id}``). A
    string pin for a per-model source is the key to use (``ids: {huggingface: org/repo}``).
    ``{file}`` is a file another source lists (``listed_by``), quoted for a URL path."""
    pin = model.ids.get(source.name)
    values = {
        "hf_id": pin if isinstance(pin, str) else model.hf_id,
        "name": model.name,
        "file": quote(file, safe="/") if file else None,
    }
    if any(not values.get(p) for p in source.placeholders):
        return None
    return source.url.format(**values)


def _key(source: Source, config: PipelineConfig, environ: Mapping[str, str]) -> str | None:
    auth = source.auth or {}
    setting = auth.get("config_key")
    value = config.source_keys.get(setting) if setting else None  # a flag, or the Python API
    for env in source.key_envs:
        value = value or environ.get(env)
    value = value or config.file_keys.get(setting or "")
    if not value or not value.strip():
        return None
    value = value.strip()
    if not (value.isascii() and value.isprintable()):  # a header cannot carry it; never echoed
        where = " or ".join(source.key_envs) + (f" (or {setting})" if setting else "")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise UsageError(
                f"the key for {source.name} (set via {where}) contains a control character; re-create it without line breaks"
            )
        raise UsageError(
            f"the key for {source.name} (set via {where}) contains a character an HTTP header cannot carry "
            "(only printable ASCII); copy the key again"
        )
    return value


def _overridden(source: Source, override: dict[str, Any]) -> Source:
    source = replace(
        source, **{k: override[k] for k in ("url", "deadline", "max_body", "shrink_limit") if k in override}
    )
    if "companions" in override:
        merged = {k: {**v, "url": override["companions"].get(k, v["url"])} for k, v in source.companions.items()}
        source = replace(source, companions=merged)
    return source


def _rate(source: Source, override: dict[str, Any], config: PipelineConfig) -> float:
    flag = config.source_rates.get(source.rate_limit_setting) if source.rate_limit_setting else None
    return override.get("rate_limit") or flag or source.rate_limit or settings.DEFAULT_RATE_LIMIT
