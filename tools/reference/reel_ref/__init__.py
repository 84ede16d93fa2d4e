"""reel_ref: the independent PyTorch reference of reel's linear DiT (pipeline/model/README.md).

Import with `sys.path.insert(0, "<repo>/tools/reference")`; then
`from reel_ref import DiT, DitConfig, load_model, sampler`.
"""
from .config import DitConfig, ModelConfig, SamplerConfig, load_config, save_config
from .dit import BlockState, LayerState, DiT, load_model, save_model
from .safetensors_io import load_file, load_file_with_metadata, save_file

__all__ = [
    "BlockState", "DitConfig", "LayerState", "DiT", "ModelConfig", "SamplerConfig",
    "load_config", "load_file", "load_file_with_metadata", "load_model", "save_config",
    "save_file", "save_model",
]
