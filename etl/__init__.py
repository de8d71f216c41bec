"""llm-benchmark-etl: fill LLM model files from public sources, declared in YAML, with provenance.

from etl import Pipeline, PipelineConfig, ModelInfo
pipeline = Pipeline(PipelineConfig.load("examples/config.yaml", {"offline": True}))
results = pipeline.process_batch([ModelInfo("GLM-4.6", hf_id="zai-org/GLM-4.6")])
"""

from .config import ModelInfo, PipelineConfig
from .errors import EtlError, SourceError, UsageError
from .outcomes import ModelResult
from .pipeline import LLMBenchmarkPipeline, Pipeline

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
