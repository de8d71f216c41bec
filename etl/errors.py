"""Domain errors. The library raises these; only the CLI turns them into messages and exit codes.
Upstream text in them (and in anything else printed) goes through :func:`printable` first."""

from __future__ import annotations

import unicodedata
from enum import IntEnum

#: bidirectional overrides and isolates: they make a text display as another one
BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: the escapes of the commonest control characters (others read \xNN or \uNNNN)
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """``text`` safe to print or to write into a comment: every control character (escape
    sequences that move the cursor or set the title), line or paragraph separator and bidi
    override shown as its escape. Upstream text (error bodies, entry ids and names) goes through
    this before it reaches a terminal, a log or a file line."""
    text = str(text)
    if text.isprintable() and not BIDI.intersection(text):
        return text
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in BIDI


def _escape(char: str) -> str:
    code = ord(char)
    return _ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


class ExitCode(IntEnum):
    """What the ``etl`` command exits with; the README's table lists the same."""

    OK = 0  # every model written, no source failed
    FAILED = 1  # some model or source failed, or a file is invalid
    USAGE = 2  # config, flags, mapping, template or other input error
    INCOMPLETE = 3  # every file that could be written was; the cache lacks responses (`etl cache missing`)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM


#: what an interrupted command says (Ctrl-C or SIGTERM), before it exits INTERRUPTED
INTERRUPTED = "interrupted: no partial file was written; a re-run resumes from the cache"


class EtlError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = ExitCode.FAILED


class UsageError(EtlError):
    """Bad input from the user: config, flags, mapping files, templates, model names (exit 2).

    Carries every problem found, each a self-contained line naming the file, the place and the fix.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple:  # rebuilt as raised when it crosses a process (etl/store/workers.py)
        return type(self), (self.problems,)


class SourceError(EtlError):
    """A source failed for one model or for the whole run; the batch goes on (exit 1 at the end)."""

    def __init__(self, source: str, message: str, url: str | None = None):
        self.source = source
        self.url = url
        self.detail = message
        super().__init__(f"{source}: {message}")

    def __reduce__(self) -> tuple:  # rebuilt as raised when it crosses a process (etl/store/workers.py)
        return type(self), (self.source, self.detail, self.url)


class SourceStopped(SourceError):
    """The source asked for a wait beyond the ceiling: nothing more is sent to it this run."""


class StoreError(EtlError):
    """The SQLite store failed during a run (disk full, deleted, damaged): one line naming the
    file and the fix (exit 1). Before a run the same faults are a UsageError (exit 2)."""


class WriteFailed(EtlError):
    """A model's file could not be written (disk full, read-only, immutable): that model failed,
    the batch goes on (exit 1 at the end)."""
