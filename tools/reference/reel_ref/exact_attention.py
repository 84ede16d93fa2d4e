"""The exact (softmax) self-attention of the `softmax` and `sparse_linear` attention kinds.

Written from the contract in pipeline/model/README.md "Attention kinds" (plain dense tensors, masks
built explicitly; no tiling tricks):

* Queries and keys are the RMS-normalized q, k with RoPE on both (no ReLU), scale 1/sqrt(d).
* Block-causal with a window: a query in video block b sees the key blocks (b - W, b]
  (W = `attention_window`; for `softmax`, W = 0 means every block <= b). Bidirectional calls are one
  block that sees itself.
* `sparse_linear` keeps, per head and query tile, the n = max(1, min(T, floor(topk * T + 1e-6)))
  key tiles of the query's window with the largest score pool(q_tile) . pool(k_tile - mean(k)) (SLA's
  block map: mean pooling, smooth-K over the window's keys, no scale or softmax), and takes the
  softmax over those tiles only. Tiles are cut per video block: with blocks, the tile is the largest
  divisor of the block's token count not above the configured tile (so a tile never straddles two
  blocks and block-AR generation sees the same tiles as the full forward); without, the configured
  tile with a partial last tile.
"""
import math
from typing import List, Optional, Tuple

import torch


def selected_tiles(topk: float, tiles: int) -> int:
    """How many key tiles a query tile keeps (the same formula as the C++ engine)."""
    return max(1, min(tiles, int(math.floor(topk * tiles + 1e-6))))


def effective_tile(tile: int, block_tokens: Optional[int]) -> int:
    if block_tokens is None:
        return tile
    return max(t for t in range(1, min(tile, block_tokens) + 1) if block_tokens % t == 0)


def _pool(x: torch.Tensor, tile: int) -> torch.Tensor:
    """Mean over tiles of rows: (..., N, d) -> (..., ceil(N / tile), d); a partial tile uses its count."""
    n = x.shape[-2]
    return torch.stack([x[..., s:min(s + tile, n), :].mean(dim=-2) for s in range(0, n, tile)],
                       dim=-2)


def tile_map(q: torch.Tensor, k: torch.Tensor, topk: float, tile_q: int, tile_k: int
             ) -> torch.Tensor:
    """SLA block map: bool (B, h, Tq, Tk), True for the kept key tiles of each query tile."""
    ks = k - k.mean(dim=-2, keepdim=True)
    scores = _pool(q, tile_q) @ _pool(ks, tile_k).transpose(-1, -2)
    n = selected_tiles(topk, scores.shape[-1])
    idx = scores.topk(n, dim=-1).indices
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, idx, True)


def expand_tiles(mask: torch.Tensor, nq: int, nk: int, tile_q: int, tile_k: int) -> torch.Tensor:
    """Tile mask (..., Tq, Tk) -> token mask (..., nq, nk)."""
    rows = mask.repeat_interleave(tile_q, dim=-2)[..., :nq, :]
    return rows.repeat_interleave(tile_k, dim=-1)[..., :nk]


def masked_softmax_attention(q, k, v, keep: Optional[torch.Tensor]) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v with (..., nq, nk) `keep` (None = all)."""
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, topk: Optional[float],
                     tile_q: int, tile_k: int, block_tokens: Optional[int]) -> torch.Tensor:
    """Exact attention of queries (B, h, nq, d) on their window's keys/values (B, h, nk, d), every
    key allowed; topk None = dense softmax, else the SLA tile selection first."""
    if topk is None:
        return masked_softmax_attention(q, k, v, None)
    tq, tk = effective_tile(tile_q, block_tokens), effective_tile(tile_k, block_tokens)
    keep = expand_tiles(tile_map(q, k, topk, tq, tk), q.shape[-2], k.shape[-2], tq, tk)
    return masked_softmax_attention(q, k, v, keep)


def block_ranges(frames: int, block_frames: Optional[int], hw: int) -> List[Tuple[int, int]]:
    """Token ranges [s, e) of the blocks of one call (one block when bidirectional)."""
    if block_frames is None:
        return [(0, frames * hw)]
    return [(f * hw, min(f + block_frames, frames) * hw) for f in range(0, frames, block_frames)]


def exact_self_attention(q, k, v, frames: int, hw: int, block_frames: Optional[int], window: int,
                         topk: Optional[float], tile_q: int, tile_k: int,
                         past_k: Optional[torch.Tensor] = None,
                         past_v: Optional[torch.Tensor] = None):
    """The exact branch over one call. q, k, v (B, h, N, d) already rotated; past_k/v (B, h, P, d) =
    the kept keys/values of the blocks before this call (P a multiple of the block's tokens).

    Returns (out (B, h, N, d), kept keys, kept values): what the next call needs — the last W - 1
    blocks (sparse_linear, or softmax with W > 0) or every block (softmax, W = 0)."""
    if block_frames is None:
        if past_k is not None and past_k.shape[-2] > 0:
            raise ValueError("a bidirectional call has no earlier blocks")
        return window_attention(q, k, v, topk, tile_q, tile_k, None), None, None
    bt = block_frames * hw
    pk = past_k if past_k is not None else k[..., :0, :]
    pv = past_v if past_v is not None else v[..., :0, :]
    all_k, all_v = torch.cat([pk, k], dim=-2), torch.cat([pv, v], dim=-2)
    p = pk.shape[-2]
    outs = []
    for s, e in block_ranges(frames, block_frames, hw):
        first = 0 if window == 0 else max(0, p + s - (window - 1) * bt)
        outs.append(window_attention(q[..., s:e, :], all_k[..., first:p + e, :],
                                     all_v[..., first:p + e, :], topk, tile_q, tile_k, bt))
    keep_from = 0 if window == 0 else max(0, all_k.shape[-2] - (window - 1) * bt)
    return torch.cat(outs, dim=-2), all_k[..., keep_from:, :], all_v[..., keep_from:, :]
