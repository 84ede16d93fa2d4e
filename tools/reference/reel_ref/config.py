"""config.json of a model directory: the `transformer` and `sampler` sections, parsed strictly.

Mirrors pipeline/model/config.cc: an unknown key is an error (a typo must not fall back to a default);
the same keys are required or optional there and here. Top-level sections owned by other parts
(`vae`, `text_encoder`, `video`, `train`) are kept verbatim and written back on save.
"""
import dataclasses
import json
from dataclasses import dataclass, field
from typing import List


class ConfigError(ValueError):
    pass


@dataclass
class DitConfig:
    in_channels: int
    out_channels: int
    hidden_size: int
    num_layers: int
    num_heads: int
    head_dim: int
    cross_num_heads: int
    cross_head_dim: int
    caption_dim: int
    ffn_hidden: int
    patch_size: List[int] = field(default_factory=lambda: [1, 2, 2])  # (t, h, w)
    norm_eps: float = 1e-6
    qk_norm_eps: float = 1e-5
    caption_norm_eps: float = 1e-5  # diffusers: caption_norm's own 1e-5
    out_norm_eps: float = 1e-6  # diffusers: norm_out's own 1e-6
    attn_eps: float = 1e-15
    rope_theta: float = 10000.0
    temporal_conv: str = "causal"  # "causal" | "centered"
    attention: str = "linear"  # "linear" | "softmax" | "sparse_linear"
    block_frames: int = 1  # token frames per block of block-causal attention
    # Kinds with an exact (softmax) branch: video blocks it sees, the current one included (0:
    # `softmax` sees every earlier block, `sparse_linear` has no exact branch); SLA top-k share of
    # key tiles and the tile sizes in tokens.
    attention_window: int = 2
    sla_topk: float = 0.1
    sla_tile_q: int = 64
    sla_tile_k: int = 64
    rope_max_seq_len: int = 1024

    def validate(self) -> "DitConfig":
        errors = []
        if (not isinstance(self.patch_size, (list, tuple)) or len(self.patch_size) != 3
                or any(isinstance(p, bool) or not isinstance(p, int) or p < 1
                       for p in self.patch_size)):
            errors.append("'patch_size' must be three positive integers [t, h, w]")
        if self.temporal_conv not in ("causal", "centered"):
            errors.append(f"'temporal_conv' is '{self.temporal_conv}', expected causal or centered")
        if self.attention not in ("linear", "softmax", "sparse_linear"):
            errors.append(f"'attention' is '{self.attention}', expected linear, sparse_linear or "
                          "softmax")
        if isinstance(self.attention_window, bool) or not isinstance(self.attention_window, int) \
                or self.attention_window < 0:
            errors.append("'attention_window' must be an integer >= 0")
        if not 0 < self.sla_topk <= 1:
            errors.append("'sla_topk' must be in (0, 1]")
        if min(self.sla_tile_q, self.sla_tile_k) < 1:
            errors.append("'sla_tile_q' and 'sla_tile_k' must be positive")
        if self.num_heads * self.head_dim != self.hidden_size:
            errors.append("num_heads * head_dim != hidden_size")
        if self.cross_num_heads * self.cross_head_dim != self.hidden_size:
            errors.append("cross_num_heads * cross_head_dim != hidden_size")
        if self.head_dim % 2 != 0 or self.head_dim < 6:
            errors.append("head_dim must be even and >= 6 (3D RoPE)")
        if min(self.in_channels, self.out_channels, self.num_layers, self.ffn_hidden,
               self.caption_dim, self.block_frames) <= 0:
            errors.append("sizes must be positive")
        if errors:
            raise ConfigError("config.json transformer: " + "; ".join(errors))
        return self

    @property
    def patch_volume(self) -> int:
        pt, ph, pw = self.patch_size
        return pt * ph * pw


@dataclass
class SamplerConfig:
    flow_shift: float = 3.0
    steps: int = 20
    cfg_scale: float = 4.5
    solver: str = "dpm++2m"  # "euler" | "dpm++2m"
    num_train_timesteps: int = 0  # > 0: diffusers' flow-sigma schedule (reel_ref/dpm_flow.py)

    def validate(self) -> "SamplerConfig":
        errors = []
        if self.solver not in ("euler", "dpm++2m"):
            errors.append(f"'solver' is '{self.solver}', expected euler or dpm++2m")
        if self.steps <= 0:
            errors.append("'steps' must be positive")
        if self.flow_shift <= 0:
            errors.append("'flow_shift' must be positive")
        if errors:
            raise ConfigError("config.json sampler: " + "; ".join(errors))
        return self


_OTHER_SECTIONS = ("vae", "text_encoder", "video", "train", "cache")


@dataclass
class ModelConfig:
    transformer: DitConfig
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    name: str = ""
    other: dict = field(default_factory=dict)  # sections owned by other parts, kept verbatim

    def to_json(self) -> dict:
        out = {}
        if self.name:
            out["name"] = self.name
        out["transformer"] = dataclasses.asdict(self.transformer)
        if self.transformer.temporal_conv == "centered":  # bidirectional: no blocks
            out["transformer"].pop("block_frames")
        out["sampler"] = dataclasses.asdict(self.sampler)
        # Fields added for the official checkpoint are written only when they say something, so
        # that configs written before them round-trip unchanged.
        for section, key in (("transformer", "caption_norm_eps"), ("transformer", "out_norm_eps"),
                             ("transformer", "rope_max_seq_len"),
                             ("sampler", "num_train_timesteps")):
            cls = DitConfig if section == "transformer" else SamplerConfig
            default = {f.name: f.default for f in dataclasses.fields(cls)}[key]
            if out[section][key] == default:
                del out[section][key]
        out.update(self.other)
        return out


def _strict(cls, section: dict, where: str):
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: expected an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(fields)}")
    missing = [n for n, f in fields.items()
               if n not in section and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    kwargs = {}
    for name, value in section.items():
        kind = fields[name].type
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}: '{name}' must be an integer, got {value!r}")
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}: '{name}' must be a number, got {value!r}")
            value = float(value)
        if kind is str and not isinstance(value, str):
            raise ConfigError(f"{where}: '{name}' must be a string, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def parse_dit_config(section: dict) -> DitConfig:
    cfg = _strict(DitConfig, section, "config.json transformer").validate()
    cfg.patch_size = list(cfg.patch_size)
    return cfg


def parse_sampler_config(section: dict) -> SamplerConfig:
    return _strict(SamplerConfig, section, "config.json sampler").validate()


def parse_model_config(j: dict) -> ModelConfig:
    known = {"name", "transformer", "sampler", *_OTHER_SECTIONS}
    unknown = sorted(set(j) - known)
    if unknown:
        raise ConfigError(f"config.json: unknown key(s) {unknown}; known: {sorted(known)}")
    if "transformer" not in j:
        raise ConfigError("config.json: missing required key 'transformer'")
    return ModelConfig(
        transformer=parse_dit_config(j["transformer"]),
        sampler=parse_sampler_config(j.get("sampler", {})),
        name=j.get("name", ""),
        other={k: j[k] for k in _OTHER_SECTIONS if k in j},
    )


def load_config(path: str) -> ModelConfig:
    """`path` is config.json or a model directory containing it."""
    if not path.endswith(".json"):
        path = path.rstrip("/") + "/config.json"
    with open(path) as f:
        try:
            return parse_model_config(json.load(f))
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None


def save_config(cfg: ModelConfig, path: str) -> None:
    if not path.endswith(".json"):
        path = path.rstrip("/") + "/config.json"
    with open(path, "w") as f:
        json.dump(cfg.to_json(), f, indent=2)
        f.write("\n")
