"""Gemma-2 as SANA-Video's text encoder: transformers' Gemma2Model forward, written from the official
definitions (transformers models/gemma2/modeling_gemma2.py, configuration_gemma2.py), independent of the
C++ engine (pipeline/model/gemma2_encoder.cc). Contract: pipeline/model/GEMMA2.md.

    cfg = Gemma2Config.from_json(json.load(open("text_encoder/config.json")))
    model = Gemma2Model(cfg); model.load_state_dict(load_file("text_encoder/model.safetensors"))
    hidden = model(ids, attention_mask)          # (B, L, hidden_size): last_hidden_state
    write_random_text_encoder(dir, small_gemma2_config(vocab_size=...), seed=0)

The forward is transformers' eager attention: logits · query_pre_attn_scalar^-0.5, soft-capped
(cap·tanh(x/cap)), then the additive mask (finfo.min where masked: causal, padding keys, and on sliding
layers keys j <= i - sliding_window), softmax. A row with every key masked sees all its logits become
exactly finfo.min and so attends uniformly to all L keys; that is what eager transformers computes
(it only happens to padded queries on sliding layers) and what this reference reproduces.
"""
import json
import math
import os
from dataclasses import dataclass, field
from typing import List, Optional

import torch
import torch.nn as nn

from .safetensors_io import save_file

# Fields of transformers' Gemma2Config that do not change the encoder's forward (GEMMA2.md says why).
IRRELEVANT_FIELDS = {
    "architectures", "model_type", "torch_dtype", "dtype", "transformers_version", "_name_or_path",
    "initializer_range", "use_cache", "cache_implementation", "final_logit_softcapping",
    "attention_dropout", "tie_word_embeddings", "max_position_embeddings", "bos_token_id",
    "eos_token_id", "pad_token_id", "hidden_act",
}


@dataclass
class Gemma2Config:
    vocab_size: int = 256000
    hidden_size: int = 2304
    intermediate_size: int = 9216
    num_hidden_layers: int = 26
    num_attention_heads: int = 8
    num_key_value_heads: int = 4
    head_dim: int = 256
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    query_pre_attn_scalar: float = 256.0
    sliding_window: Optional[int] = 4096
    attn_logit_softcapping: Optional[float] = 50.0
    layer_types: Optional[List[str]] = None
    final_logit_softcapping: Optional[float] = 30.0
    pad_token_id: int = 0
    bos_token_id: int = 2
    eos_token_id: int = 1
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.layer_types is None:  # transformers: layer i slides when (i + 1) % 2, i.e. i even
            self.layer_types = ["sliding_attention" if (i + 1) % 2 else "full_attention"
                                for i in range(self.num_hidden_layers)]

    def is_sliding(self, i: int) -> bool:
        return self.layer_types[i] == "sliding_attention" and bool(self.sliding_window)

    def to_json(self) -> dict:
        """config.json as transformers (>= 4.42) writes a Gemma2Model's config."""
        j = {
            "architectures": ["Gemma2Model"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "attn_logit_softcapping": self.attn_logit_softcapping,
            "bos_token_id": self.bos_token_id,
            "cache_implementation": "hybrid",
            "eos_token_id": self.eos_token_id,
            "final_logit_softcapping": self.final_logit_softcapping,
            "head_dim": self.head_dim,
            "hidden_act": "gelu_pytorch_tanh",
            "hidden_activation": "gelu_pytorch_tanh",
            "hidden_size": self.hidden_size,
            "initializer_range": 0.02,
            "intermediate_size": self.intermediate_size,
            "max_position_embeddings": 8192,
            "model_type": "gemma2",
            "num_attention_heads": self.num_attention_heads,
            "num_hidden_layers": self.num_hidden_layers,
            "num_key_value_heads": self.num_key_value_heads,
            "pad_token_id": self.pad_token_id,
            "query_pre_attn_scalar": self.query_pre_attn_scalar,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "sliding_window": self.sliding_window,
            "torch_dtype": "float32",
            "transformers_version": "4.47.1",
            "use_cache": True,
            "vocab_size": self.vocab_size,
        }
        j.update(self.extra)
        return j

    @staticmethod
    def from_json(j: dict) -> "Gemma2Config":
        known = {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                 "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps",
                 "rope_theta", "query_pre_attn_scalar", "sliding_window", "attn_logit_softcapping",
                 "layer_types", "final_logit_softcapping", "pad_token_id", "bos_token_id",
                 "eos_token_id"}
        args = {k: v for k, v in j.items() if k in known}
        for k, v in j.items():
            if k in known or k in IRRELEVANT_FIELDS:
                continue
            if k == "hidden_activation" and v == "gelu_pytorch_tanh":
                continue
            if k == "attention_bias" and v is False:
                continue
            raise ValueError(f"text_encoder config: field '{k}' = {v!r} not supported")
        return Gemma2Config(**args)


class Gemma2RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · (1 + w): Gemma stores w - 1 (zeros init)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * (1.0 + self.weight)


class Gemma2MLP(nn.Module):
    """GeGLU: down(gelu_tanh(gate(x)) · up(x))."""

    def __init__(self, cfg: Gemma2Config):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        g = self.gate_proj(x)
        gelu = 0.5 * g * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (g + 0.044715 * g.pow(3))))
        return self.down_proj(gelu * self.up_proj(x))


def rope_cos_sin(positions: torch.Tensor, head_dim: int, theta: float, dtype):
    """cos/sin (L, head_dim) of the rotate-half convention: angle of column c is pos·θ^(-2(c mod d/2)/d)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]  # f32 like transformers
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Gemma2Attention(nn.Module):
    def __init__(self, cfg: Gemma2Config, layer: int):
        super().__init__()
        self.cfg = cfg
        self.sliding = cfg.is_sliding(layer)
        h, kv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, h * d, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, kv * d, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, kv * d, bias=False)
        self.o_proj = nn.Linear(h * d, cfg.hidden_size, bias=False)

    def forward(self, x, key_mask):
        cfg = self.cfg
        B, L, _ = x.shape
        h, kv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        q = self.q_proj(x).view(B, L, h, d).transpose(1, 2)
        k = self.k_proj(x).view(B, L, kv, d).transpose(1, 2)
        v = self.v_proj(x).view(B, L, kv, d).transpose(1, 2)
        cos, sin = rope_cos_sin(torch.arange(L), d, cfg.rope_theta, x.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # GQA: query head i uses kv head i // (h / kv).
        k = k.repeat_interleave(h // kv, dim=1)
        v = v.repeat_interleave(h // kv, dim=1)
        logits = torch.matmul(q, k.transpose(2, 3)) * cfg.query_pre_attn_scalar ** -0.5
        if cfg.attn_logit_softcapping:
            cap = cfg.attn_logit_softcapping
            logits = torch.tanh(logits / cap) * cap
        i = torch.arange(L)[:, None]
        j = torch.arange(L)[None, :]
        allowed = (j <= i)[None, None] & key_mask[:, None, None, :].bool()
        if self.sliding:
            allowed = allowed & (j > i - cfg.sliding_window)[None, None]
        minimum = torch.finfo(logits.dtype).min
        logits = logits + torch.where(allowed, torch.zeros((), dtype=logits.dtype),
                                      torch.full((), minimum, dtype=logits.dtype))
        attn = torch.softmax(logits, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(B, L, h * d)
        return self.o_proj(out)


class Gemma2DecoderLayer(nn.Module):
    def __init__(self, cfg: Gemma2Config, layer: int):
        super().__init__()
        eps = cfg.rms_norm_eps
        self.self_attn = Gemma2Attention(cfg, layer)
        self.mlp = Gemma2MLP(cfg)
        self.input_layernorm = Gemma2RMSNorm(cfg.hidden_size, eps)
        self.post_attention_layernorm = Gemma2RMSNorm(cfg.hidden_size, eps)
        self.pre_feedforward_layernorm = Gemma2RMSNorm(cfg.hidden_size, eps)
        self.post_feedforward_layernorm = Gemma2RMSNorm(cfg.hidden_size, eps)

    def forward(self, x, key_mask):
        x = x + self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), key_mask))
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))


class Gemma2Model(nn.Module):
    """Parameter names are those of transformers' Gemma2Model (SANA-Video's text_encoder/)."""

    def __init__(self, cfg: Gemma2Config):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Gemma2DecoderLayer(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = Gemma2RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(ids)
        # transformers multiplies by sqrt(hidden_size) rounded to the activations' dtype.
        x = x * torch.tensor(self.cfg.hidden_size ** 0.5, dtype=x.dtype)
        for layer in self.layers:
            x = layer(x, attention_mask)
        return self.norm(x)


def small_gemma2_config(vocab_size: int) -> Gemma2Config:
    """The test configuration: 3 layers (sliding, global, sliding), hidden 64, GQA 4 query / 2 kv
    heads of 24 (heads·head_dim != hidden, as in Gemma-2-2B), window 5, strong soft-capping."""
    return Gemma2Config(vocab_size=vocab_size, hidden_size=64, intermediate_size=96,
                        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                        head_dim=24, rms_norm_eps=1e-6, rope_theta=10000.0,
                        query_pre_attn_scalar=20.0, sliding_window=5, attn_logit_softcapping=3.0)


def random_gemma2(cfg: Gemma2Config, seed: int) -> Gemma2Model:
    """Seeded weights large enough that soft-capping, GQA and RoPE all matter."""
    g = torch.Generator().manual_seed(seed)
    model = Gemma2Model(cfg)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_((torch.rand(p.shape, generator=g) - 0.5) * 0.4)  # 1 + w in [0.8, 1.2]
            elif name == "embed_tokens.weight":
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                bound = 2.0 / math.sqrt(p.shape[1])
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
    return model


def write_text_encoder(model: Gemma2Model, out_dir: str, dtype=torch.float32) -> None:
    """text_encoder/{config.json, model.safetensors} with the official names (Gemma2Model)."""
    os.makedirs(out_dir, exist_ok=True)
    cfg = dict(model.cfg.to_json())
    cfg["torch_dtype"] = {torch.float32: "float32", torch.bfloat16: "bfloat16"}[dtype]
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})


def write_random_text_encoder(out_dir: str, cfg: Gemma2Config, seed: int = 0,
                              dtype=torch.float32) -> Gemma2Model:
    model = random_gemma2(cfg, seed)
    write_text_encoder(model, out_dir, dtype)
    return model
