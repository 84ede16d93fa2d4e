"""The model and inputs of the PyTorch baseline: reel_ref.dit.DiT (the reference itself, not a copy)
with a SANA-Video-2B-shaped or a tiny config, seeded random weights, and the two ways a render calls it
(a CFG step over the whole clip; block-autoregressive chunks with the carried state)."""
import math
import os
import sys
from dataclasses import dataclass
from typing import Dict, Tuple

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from reel_ref import sampler  # noqa: E402
from reel_ref.config import DitConfig, SamplerConfig  # noqa: E402
from reel_ref.dit import BlockState, DiT  # noqa: E402

# Wan VAE: 8x spatial, 4x temporal compression (81 video frames -> 21 latent frames).
VAE_SPATIAL = 8
VAE_TEMPORAL = 4


@dataclass
class Shape:
    """A model config and the video sizes it is measured at."""
    config: Dict
    caption_tokens: int
    bidirectional: Dict[str, Tuple[int, int, int]]  # case -> (video frames, height, width)
    long_hw: Tuple[int, int]  # video height, width of the block-autoregressive mode
    long_chunk_latent_frames: int


SHAPES = {
    # SANA-Video 2B (the released transformer's shapes, tools/reference/write_sana_checkpoint.py):
    # centered temporal conv like the official model; the conv kind does not change the cost.
    "sana2b": Shape(
        config=dict(in_channels=16, out_channels=16, patch_size=[1, 2, 2], hidden_size=2240,
                    num_layers=20, num_heads=20, head_dim=112, cross_num_heads=20,
                    cross_head_dim=112, caption_dim=2304, ffn_hidden=6720,
                    temporal_conv="centered", attention="linear", block_frames=1),
        caption_tokens=300,
        bidirectional={"bidirectional_480p": (81, 480, 832), "bidirectional_720p": (81, 720, 1280)},
        long_hw=(480, 832), long_chunk_latent_frames=10),
    # The CPU smoke test's stand-in: same structure, tiny sizes (the case names are kept).
    "tiny": Shape(
        config=dict(in_channels=16, out_channels=16, patch_size=[1, 2, 2], hidden_size=64,
                    num_layers=2, num_heads=2, head_dim=32, cross_num_heads=2, cross_head_dim=32,
                    caption_dim=48, ffn_hidden=192, temporal_conv="centered", attention="linear",
                    block_frames=1),
        caption_tokens=16,
        bidirectional={"bidirectional_480p": (9, 64, 96), "bidirectional_720p": (9, 96, 160)},
        long_hw=(64, 96), long_chunk_latent_frames=2),
}


def latent_shape(cfg: DitConfig, video_frames: int, height: int, width: int):
    """(C, F, H, W) of the latents of a video (Wan VAE: the first frame alone, then 4 per latent)."""
    return (cfg.in_channels, (video_frames - 1) // VAE_TEMPORAL + 1, height // VAE_SPATIAL,
            width // VAE_SPATIAL)


def token_grid(cfg: DitConfig, latent: Tuple[int, int, int, int]):
    """(frames, rows, cols) in tokens."""
    pt, ph, pw = cfg.patch_size
    return latent[1] // pt, latent[2] // ph, latent[3] // pw


@torch.no_grad()
def randomize(model: DiT, seed: int) -> DiT:
    """Seeded weights drawn on the model's device (2B parameters would take minutes on the host):
    matrices and convs U(+-1/sqrt(fan_in)), biases U(+-0.02), modulation tables U(+-0.1), norm
    weights 1."""
    device = next(model.parameters()).device
    if device.type == "meta":  # shapes only: nothing to draw
        return model
    g = torch.Generator(device=device).manual_seed(seed)
    for name, p in sorted(model.named_parameters()):
        if name.endswith("scale_shift_table"):
            p.uniform_(-0.1, 0.1, generator=g)
        elif "norm" in name.split(".")[-2]:  # norm_q / norm_k / caption_norm weights
            p.fill_(1.0)
        elif p.dim() > 1:
            bound = 1.0 / math.sqrt(p[0].numel())
            p.uniform_(-bound, bound, generator=g)
        else:
            p.uniform_(-0.02, 0.02, generator=g)
    return model


def build_model(cfg: DitConfig, device: torch.device, dtype: torch.dtype, seed: int) -> DiT:
    """DiT(cfg) created directly on `device` where torch can (>= 2.0: torch.device is a context
    manager), randomized there, then cast to `dtype`."""
    if hasattr(device, "__enter__"):
        with device:
            model = DiT(cfg)
    else:
        model = DiT(cfg).to(device)
    return randomize(model, seed).to(dtype).eval()


def caption_inputs(cfg: DitConfig, tokens: int, device, dtype, seed: int):
    """Caption embeddings (2, L, Dc) and masks (2, L): row 0 the prompt (every token valid), row 1
    the negative prompt (a few valid tokens, padding after). Masked keys cost the same."""
    g = torch.Generator().manual_seed(seed)
    caption = torch.randn(2, tokens, cfg.caption_dim, generator=g).to(device, dtype)
    mask = torch.zeros(2, tokens)
    mask[0] = 1
    mask[1, :max(1, tokens // 16)] = 1
    return caption, mask.to(device)


class CfgStep:
    """One denoising step of the whole clip: cond and uncond batched in one forward, CFG, Euler.

    Equal to reel_ref.sampler (cfg_velocity + euler_step), which calls the two branches one after
    the other; batching them is what a GPU engine does."""

    def __init__(self, model: DiT, latents: torch.Tensor, caption, mask, cfg_scale: float,
                 sigma: float, sigma_next: float):
        self.model, self.x = model, latents
        self.caption, self.mask = caption, mask
        self.cfg_scale, self.sigma, self.sigma_next = cfg_scale, sigma, sigma_next
        self.t = torch.full((2,), 1000.0 * sigma, dtype=torch.float64, device=latents.device)

    def __call__(self, forward=None) -> torch.Tensor:
        forward = self.model if forward is None else forward  # e.g. torch.compile(model)
        v = forward(torch.cat([self.x, self.x]), self.t, self.caption, self.mask)
        v_c, v_u = v.chunk(2)
        v = v_u + self.cfg_scale * (v_c - v_u)
        return sampler.euler_step(self.x, v, self.sigma, self.sigma_next)


class LongVideo:
    """Block-autoregressive generation one chunk at a time, as reel_ref.sampler.generate_block_ar
    does it with cfg 1 and Euler: denoise the chunk with the state of all finished chunks, then one
    clean forward at t = 0 with update_state (always done here: a stream keeps going)."""

    def __init__(self, model: DiT, caption, mask, steps: int, chunk_token_frames: int,
                 tokens_per_frame: int, flow_shift: float = SamplerConfig().flow_shift):
        self.model = model
        self.caption, self.mask = caption, mask
        self.sigmas = sampler.sigma_schedule(steps, flow_shift)
        self.chunk = chunk_token_frames
        self.frames_done = 0
        dtype = next(model.parameters()).dtype
        self.state = BlockState.zeros(model.cfg, caption.shape[0], tokens_per_frame, dtype=dtype,
                                      device=caption.device)

    def state_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for layer in self.state.layers
                   for t in (layer.kv, layer.ksum, layer.conv_tail))

    def next_chunk(self, noise: torch.Tensor) -> torch.Tensor:
        """Denoises `noise` (B, C, chunk frames, H, W) as the next chunk; returns the clean latents."""
        B, dev = noise.shape[0], noise.device
        f0 = self.frames_done
        x = noise
        for i in range(len(self.sigmas) - 1):
            t = torch.full((B,), 1000.0 * self.sigmas[i], dtype=torch.float64, device=dev)
            v = self.model(x, t, self.caption, self.mask, frame_offset=f0, state=self.state)
            x = sampler.euler_step(x, v, self.sigmas[i], self.sigmas[i + 1])
        t0 = torch.zeros(B, dtype=torch.float64, device=dev)
        _, self.state = self.model(x, t0, self.caption, self.mask, frame_offset=f0,
                                   state=self.state, update_state=True)
        self.frames_done += self.chunk
        return x
