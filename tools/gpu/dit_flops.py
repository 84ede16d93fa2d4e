"""Analytic FLOP count of one forward of the linear DiT (reel_ref.dit.DiT, attention = "linear").

Kept next to the PyTorch baseline so the C++ benchmark can mirror it term by term and both report
achieved TFLOP/s against the same count. tools/gpu/test_torch_baseline.py checks it against the
matrix products a real forward executes (counted from their shapes at the ATen level).
"""
from typing import Dict


def dit_forward_flops(cfg, batch: int, frames: int, rows: int, cols: int,
                      caption_tokens: int) -> Dict[str, int]:
    """FLOPs of the matrix products of one forward, 2 per multiply-add, by component.

    Notation: B = batch (2 for CFG's cond + uncond), N = B * frames * rows * cols tokens over the
    batch (frames, rows, cols in tokens: latent sizes / patch), D = hidden_size, d = head_dim,
    Hf = ffn_hidden, L = caption tokens, Dc = caption_dim, P = patch volume, Ci / Co = in / out
    channels, layers = num_layers.

    per layer (x layers):
      self_attention_projections  4 * 2*N*D*D          to_q, to_k, to_v, to_out
      linear_attention            2*N*D*d + 2*N*D*d + 2*N*D
                                  state sum_m v_m k_m^T, apply kv.q, normalizer q.ksum
      cross_attention_projections 2 * 2*N*D*D          to_q, to_out on the video tokens
      cross_attention_caption_kv  2 * 2*B*L*D*D        to_k, to_v on the caption (once per forward
                                                       in the reference; an engine may cache it)
      cross_attention             2 * 2*N*L*D          scores q.k over L keys, weights . v
      ffn                         2*N*D*2Hf + 2*N*Hf*D + 3 * 2*N*D*D
                                  inverted 1x1 conv, gated point 1x1 conv, temporal conv (3 taps)
      ffn_depthwise               2*N*2Hf*9            the 3x3 depthwise conv (not a GEMM)
    once per forward:
      embed_and_output            2*N*(Ci*P)*D + 2*N*D*(P*Co)    patch embedding, proj_out
      timestep                    2*B*(256*D + D*D + D*6D)       one timestep per sample
      caption_projection          2*B*L*(Dc*D + D*D)

    Not counted: norms, RoPE, softmax, activations, residual adds (memory-bound, O(N*D) each).
    `total` is the sum of every component; `gemm` leaves out ffn_depthwise.
    """
    D, d, Hf = cfg.hidden_size, cfg.head_dim, cfg.ffn_hidden
    L, Dc, P = caption_tokens, cfg.caption_dim, cfg.patch_volume
    B = batch
    N = B * frames * rows * cols
    layers = cfg.num_layers
    per_layer = {
        "self_attention_projections": 4 * 2 * N * D * D,
        "linear_attention": 2 * N * D * d + 2 * N * D * d + 2 * N * D,
        "cross_attention_projections": 2 * 2 * N * D * D,
        "cross_attention_caption_kv": 2 * 2 * B * L * D * D,
        "cross_attention": 2 * 2 * N * L * D,
        "ffn": 2 * N * D * 2 * Hf + 2 * N * Hf * D + 3 * 2 * N * D * D,
        "ffn_depthwise": 2 * N * 2 * Hf * 9,
    }
    out = {name: layers * flops for name, flops in per_layer.items()}
    out["embed_and_output"] = (2 * N * cfg.in_channels * P * D
                               + 2 * N * D * P * cfg.out_channels)
    out["timestep"] = 2 * B * (256 * D + D * D + D * 6 * D)
    out["caption_projection"] = 2 * B * L * (Dc * D + D * D)
    out["total"] = sum(out.values())
    out["gemm"] = out["total"] - out["ffn_depthwise"]
    return out
