"""The settings a user gives per source, derived from the mappings so that a source with a key or
a rate of its own is added by YAML alone: no source name, flag, config key or environment variable
is written in Python.

A key is declared once under ``auths:`` (any mapping file) and named by each source that sends it
(``auth: huggingface``); from it come the config key ``<name>_key``, the flag ``--<flag>-key`` and
its environment variables (``env``). A rate is named by the sources that share it
(``rate_limit_setting: rate_limit_hf``): the config key of that name and ``--rate-limit-hf``.
The config schema, the ``etl`` flags and the guided mode's questions are all built from
:func:`declared_settings`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..settings import mappings_dir
from .validation import suggest

if TYPE_CHECKING:
    from .mappings import Mappings, Source


class SettingKind(StrEnum):
    """What a per-source setting holds; its name is also the ``$defs`` entry of the config schema
    that describes its value."""

    KEY = "source_key"
    RATE = "source_rate"


@dataclass(frozen=True)
class Setting:
    """One per-source setting: its config key (``name``), its flag, what it holds and for whom."""

    name: str
    flag: str
    kind: SettingKind
    sources: tuple[str, ...]
    label: str = ""
    envs: tuple[str, ...] = ()

    @property
    def param(self) -> str:
        """The flag as a Python parameter name (``--aa-key`` -> ``aa_key``)."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def help(self) -> str:
        if self.kind is SettingKind.KEY:
            return f"{self.label} (better: {' or '.join(self.envs)} in the environment or .env)."
        return f"Requests per second to {', '.join(self.sources)}."


def key_setting(auth_name: str) -> str:
    """The config key that holds an auth's key."""
    return f"{auth_name}_key"


def resolve_auths(
    sources: dict[str, Source],
    declared: list[tuple[Path, str, dict[str, Any]]],
    origin: dict[str, Path],
    problems: list[str],
    broken: frozenset[str] = frozenset(),
) -> None:
    """Replace each source's ``auth`` name by the declaration it names (with its derived config key
    and flag), in place; unknown names and names declared twice are problems (not a name in
    ``broken``: declared with a block the schema refused, already reported)."""
    auths: dict[str, dict[str, Any]] = {}
    for path, name, decl in declared:
        if name in auths:
            problems.append(f"{path}: auths.{name}: already declared in another file; keep one")
        auths[name] = {
            **decl,
            "name": name,
            "config_key": key_setting(name),
            "flag": f"--{decl.get('flag', name.replace('_', '-'))}-key",
            "label": decl.get("label", f"{name} key"),
        }
    for name, source in sources.items():
        if isinstance(source.auth, str):
            if source.auth not in auths and source.auth not in broken:
                valid = (
                    suggest(source.auth, auths)
                    if auths or broken
                    else f"no auths are declared; declare it under a top-level `auths:` key of a file in "
                    f"{origin[name].parent} (schemas/mapping.schema.json, $defs.auth)"
                )
                problems.append(f"{origin[name]}: sources.{name}.auth: unknown auth '{source.auth}': {valid}")
            sources[name] = replace(source, auth=auths.get(source.auth))


def settings_of(mappings: Mappings) -> dict[str, Setting]:
    """Every per-source setting the mappings declare, by config key, in declaration order."""
    found: dict[str, Setting] = {}
    for source in mappings.sources.values():
        if source.auth:
            name = source.auth["config_key"]
            held = found.get(name) or Setting(
                name, source.auth["flag"], SettingKind.KEY, (), source.auth["label"], source.key_envs
            )
            found[name] = replace(held, sources=(*held.sources, source.name))
        if source.rate_limit_setting:
            name = source.rate_limit_setting
            held = found.get(name) or Setting(name, "--" + name.replace("_", "-"), SettingKind.RATE, ())
            found[name] = replace(held, sources=(*held.sources, source.name))
    flags = [s.flag for s in found.values()]
    twice = sorted({f for f in flags if flags.count(f) > 1})
    if twice:
        raise UsageError(f"{mappings.folder}: auths: flag {twice[0]} is given by two settings; rename one `flag`")
    return found


def declared_settings(folder: Path | str | None = None) -> dict[str, Setting]:
    """The per-source settings of a mappings folder (default: the shipped one), read once per
    version of its files."""
    return _declared(folder)[1]


def declared_mappings(folder: Path | str | None = None) -> Mappings:
    """The mappings the CLI read for its flags, read once per version of the folder's files: the
    command's pipeline uses the same object rather than reading and compiling them again (0.1-0.2 s
    of every start). Shared: a caller must not change it."""
    return _declared(folder)[0]


def _declared(folder: Path | str | None) -> tuple[Mappings, dict[str, Setting]]:
    folder = Path(folder) if folder else mappings_dir()
    files = sorted(folder.glob("*.y*ml")) if folder.is_dir() else []
    return _cached(folder, tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files))


@functools.cache
def _cached(folder: Path, _version: tuple[Any, ...]) -> tuple[Mappings, dict[str, Setting]]:
    from .mappings import load_mappings

    mappings = load_mappings(folder)
    return mappings, settings_of(mappings)


def config_properties(settings: dict[str, Setting]) -> tuple[tuple[str, str], ...]:
    """The config schema's extra keys: (config key, the ``$defs`` entry describing its value)."""
    return tuple((s.name, s.kind.value) for s in settings.values())
