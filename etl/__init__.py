"""llm-benchmark-etl: fill LLM model files from public sources, declared in YAML, with provenance.

from etl import Pipeline, PipelineConfig, ModelInfo
pipeline = Pipeline(PipelineConfig.load("examples/config.yaml", {"offline": True}))
results = pipeline.process_batch([ModelInfo("GLM-4.6", hf_id="zai-org/GLM-4.6")])

The names below are imported when first used (PEP 562), so that ``etl`` the command starts with
nothing loaded but this file: a Ctrl-C during its imports (a second or so) exits 130 in one line,
like a Ctrl-C later, instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from .errors import INTERRUPTED, ExitCode

if TYPE_CHECKING:
    from .declared.config import ModelInfo, PipelineConfig
    from .errors import EtlError, SourceError, UsageError
    from .pipeline import LLMBenchmarkPipeline, Pipeline
    from .results.outcomes import ModelResult

#: public name -> the module that defines it
_EXPORTS = {
    "EtlError": "errors",
    "LLMBenchmarkPipeline": "pipeline",
    "ModelInfo": "declared.config",
    "ModelResult": "results.outcomes",
    "Pipeline": "pipeline",
    "PipelineConfig": "declared.config",
    "SourceError": "errors",
    "UsageError": "errors",
}
__all__ = [
    "EtlError",
    "LLMBenchmarkPipeline",
    "ModelInfo",
    "ModelResult",
    "Pipeline",
    "PipelineConfig",
    "SourceError",
    "UsageError",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'etl' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def main() -> None:
    """The ``etl`` command (etl/cli/cli.py), loaded here so that Ctrl-C while it loads is a clean exit."""
    try:
        from .cli.cli import main as command
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        raise SystemExit(ExitCode.INTERRUPTED) from None
    command()
