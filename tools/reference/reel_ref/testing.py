"""Random, non-trivial models and inputs for goldens and tests (every term of the forward matters:
norm weights != 1, modulation tables != 0, biases != 0)."""
import math

import torch

from .config import DitConfig
from .dit import DiT


def small_config(**overrides) -> DitConfig:
    """The golden model of make_golden.py --config small."""
    base = dict(in_channels=4, out_channels=4, patch_size=[1, 2, 2], hidden_size=64, num_layers=2,
                num_heads=2, head_dim=32, cross_num_heads=2, cross_head_dim=32, caption_dim=24,
                ffn_hidden=96, norm_eps=1e-6, qk_norm_eps=1e-5, attn_eps=1e-15,
                rope_theta=10000.0, temporal_conv="causal", attention="linear", block_frames=2)
    base.update(overrides)
    return DitConfig(**base).validate()


@torch.no_grad()
def randomize(model: DiT, seed: int) -> DiT:
    """Seeded weights of unit-ish scale: weights N(0, 1/fan_in), biases N(0, 0.1^2), norm weights
    1 + N(0, 0.2^2), modulation tables N(0, 0.3^2)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters()):
        r = torch.randn(p.shape, generator=g, dtype=torch.float64)
        if name.endswith("scale_shift_table"):
            v = 0.3 * r
        elif "norm" in name.split(".")[-2]:  # norm_q / norm_k / caption_norm weights
            v = 1.0 + 0.2 * r
        elif name.endswith(".bias"):
            v = 0.1 * r
        else:
            fan_in = p[0].numel() if p.dim() > 1 else 1
            gain = 0.5 if name.startswith("time_embed.linear") else 1.0
            v = gain * r / math.sqrt(fan_in)
        p.copy_(v.to(p.dtype))
    return model


def random_model(cfg: DitConfig, seed: int = 0, dtype=torch.float32) -> DiT:
    return randomize(DiT(cfg), seed).to(dtype).eval()
