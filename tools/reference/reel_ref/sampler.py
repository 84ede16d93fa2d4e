"""Flow-matching sampling (pipeline/model/README.md "Sampler"): sigma schedule, CFG, Euler,
DPM-Solver++ 2M, whole-clip sampling and block-autoregressive generation with the carried BlockState.

x_t = (1 - sigma) x0 + sigma * eps; the model predicts v = eps - x0 and sees t = 1000 * sigma.
Scalar coefficients are Python floats (float64); tensors keep the model's dtype.
"""
import math
from typing import List, Optional

import torch

from .dit import BlockState, DiT


def sigma_schedule(steps: int, shift: float) -> List[float]:
    """sigma_i = s*u / (1 + (s-1)*u), u = 1 - i/N for i < N; sigma_N = 0. sigma_0 is exactly 1."""
    sigmas = []
    for i in range(steps):
        u = 1.0 - i / steps
        sigmas.append(1.0 if i == 0 else shift * u / (1.0 + (shift - 1.0) * u))
    sigmas.append(0.0)
    return sigmas


def cfg_velocity(model: DiT, x, sigma: float, caption, caption_mask, neg_caption, neg_mask,
                 cfg: float, **forward_kwargs):
    """v = v_u + g (v_c - v_u); g == 1 runs the conditional branch only."""
    B = x.shape[0]
    t = torch.full((B,), 1000.0 * sigma, dtype=torch.float64, device=x.device)
    v_c = model(x, t, caption, caption_mask, **forward_kwargs)
    if cfg == 1.0:
        return v_c
    v_u = model(x, t, neg_caption, neg_mask, **forward_kwargs)
    return v_u + cfg * (v_c - v_u)


def euler_step(x, v, sigma: float, sigma_next: float):
    return x + (sigma_next - sigma) * v


def _lam(sigma: float) -> float:
    return math.log((1.0 - sigma) / sigma)


class DpmSolver2M:
    """DPM-Solver++ 2M in data prediction, multistep over one schedule (reset per block)."""

    def __init__(self, sigmas: List[float]):
        self.sigmas = sigmas
        self.prev_x0 = None

    def step(self, i: int, x, v):
        s, s_next = self.sigmas[i], self.sigmas[i + 1]
        x0 = x - s * v
        prev_x0, self.prev_x0 = self.prev_x0, x0
        if s_next == 0.0:
            return x0
        a_next = 1.0 - s_next
        if s == 1.0:  # lambda_i = -inf: first order reduces to sigma' x + alpha' x0
            return s_next * x + a_next * x0
        h = _lam(s_next) - _lam(s)
        d = x0
        if i >= 1 and self.sigmas[i - 1] < 1.0:
            r = (_lam(s) - _lam(self.sigmas[i - 1])) / h
            d = (1.0 + 1.0 / (2.0 * r)) * x0 - (1.0 / (2.0 * r)) * prev_x0
        return (s_next / s) * x - a_next * math.expm1(-h) * d


def _denoise(model, noise, caption, caption_mask, neg_caption, neg_mask, steps, cfg, solver,
             flow_shift, **forward_kwargs):
    sigmas = sigma_schedule(steps, flow_shift)
    dpm = DpmSolver2M(sigmas) if solver == "dpm++2m" else None
    if solver not in ("euler", "dpm++2m"):
        raise ValueError(f"solver '{solver}', expected euler or dpm++2m")
    x = noise
    for i in range(steps):
        v = cfg_velocity(model, x, sigmas[i], caption, caption_mask, neg_caption, neg_mask, cfg,
                         **forward_kwargs)
        x = euler_step(x, v, sigmas[i], sigmas[i + 1]) if dpm is None else dpm.step(i, x, v)
    return x


@torch.no_grad()
def sample(model: DiT, noise, caption, caption_mask, neg_caption, neg_mask, steps: int,
           cfg: float, solver: str, flow_shift: float, causal_block_frames: Optional[int] = None):
    """Whole clip at once: one timestep for all frames, bidirectional or block-causal attention."""
    return _denoise(model, noise, caption, caption_mask, neg_caption, neg_mask, steps, cfg, solver,
                    flow_shift, causal_block_frames=causal_block_frames)


@torch.no_grad()
def generate_block_ar(model: DiT, noise, caption, caption_mask, neg_caption, neg_mask,
                      steps: int, cfg: float, solver: str, block_frames: int, flow_shift: float):
    """Block-autoregressive generation with the constant-memory state.

    Per block (block_frames token frames): denoise from its slice of `noise` with the state of all
    finished blocks (both CFG branches use the same state), then one clean forward at t = 0 with the
    conditional caption and update_state to add the block to the state."""
    pt = model.cfg.patch_size[0]
    B, _, Fr, H, W = noise.shape
    tokens_per_frame = (H // model.cfg.patch_size[1]) * (W // model.cfg.patch_size[2])
    token_frames = Fr // pt
    state = BlockState.zeros(model.cfg, B, tokens_per_frame, dtype=noise.dtype,
                             device=noise.device)
    blocks = []
    for f0 in range(0, token_frames, block_frames):
        f1 = min(f0 + block_frames, token_frames)
        x = _denoise(model, noise[:, :, f0 * pt:f1 * pt], caption, caption_mask, neg_caption,
                     neg_mask, steps, cfg, solver, flow_shift, frame_offset=f0, state=state)
        blocks.append(x)
        if f1 < token_frames:  # the last block's state is never used
            t0 = torch.zeros(B, dtype=torch.float64, device=noise.device)
            _, state = model(x, t0, caption, caption_mask, frame_offset=f0, state=state,
                             update_state=True)
    return torch.cat(blocks, dim=2)
