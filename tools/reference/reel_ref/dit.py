"""DiT: the Diffusion Transformer of pipeline/model/README.md (SANA-Video design; linear, sparse_linear
or softmax self-attention, exact_attention.py).

Written for reading, not speed: each step of the contract is one short function, block-causal attention
is a plain running sum over blocks, and the block-AR state is an explicit object. Parameter names are
the diffusers ones of the contract table, so `state_dict()` is the transformer.safetensors layout.

Precision: activations follow the parameter dtype (float32 normally, float64 for goldens); linear
attention runs in at least float32; the timestep sinusoid and RoPE angles are built in float64 and then
cast (an f32 argument t*freq of ~1000 rad would be off by ~1e-4 rad).
"""
import math
from dataclasses import dataclass
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .config import DitConfig, ModelConfig, load_config, save_config
from .exact_attention import exact_self_attention
from .safetensors_io import load_file, save_file


# ----------------------------------------------------------------------------------------------------
# Block-AR state
# ----------------------------------------------------------------------------------------------------
@dataclass
class LayerState:
    """One layer's summary of all finished blocks (README "BlockState").

    kv[b, h, i, j] = sum_m v_m[i] * rot(phi(k_m))[j]   (B, heads, d, d), v index first
    ksum[b, h, j]  = sum_m phi(k_m)[j]                 (B, heads, d), un-rotated
    conv_tail      = last two frames of the temporal-conv input y  (B, 2, H'*W', D), oldest first
    """
    kv: torch.Tensor
    ksum: torch.Tensor
    conv_tail: torch.Tensor
    # Attention kinds with an exact branch (exact_attention.py): the rotated keys and the values of the
    # blocks the next block's window reaches, (B, heads, tokens, d); None for `linear`.
    win_k: Optional[torch.Tensor] = None
    win_v: Optional[torch.Tensor] = None


@dataclass
class BlockState:
    layers: List[LayerState]
    frames: int = 0  # token frames absorbed so far (= the next block's absolute frame offset)

    @staticmethod
    def zeros(cfg: DitConfig, batch: int, tokens_per_frame: int, dtype=torch.float32,
              device=None) -> "BlockState":
        d, h, D = cfg.head_dim, cfg.num_heads, cfg.hidden_size
        acc = _attention_dtype(dtype)
        exact = cfg.attention != "linear"
        return BlockState([
            LayerState(kv=torch.zeros(batch, h, d, d, dtype=acc, device=device),
                       ksum=torch.zeros(batch, h, d, dtype=acc, device=device),
                       conv_tail=torch.zeros(batch, 2, tokens_per_frame, D, dtype=dtype, device=device),
                       win_k=torch.zeros(batch, h, 0, d, dtype=acc, device=device) if exact else None,
                       win_v=torch.zeros(batch, h, 0, d, dtype=acc, device=device) if exact else None)
            for _ in range(cfg.num_layers)
        ])


def _attention_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


# ----------------------------------------------------------------------------------------------------
# Small math pieces
# ----------------------------------------------------------------------------------------------------
def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """x * rsqrt(mean(x^2) + eps) * weight over the last dim, in at least float32."""
    xf = x.to(_attention_dtype(x.dtype))
    y = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)
    return y.to(x.dtype) * weight


def layer_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """LayerNorm over the last dim without affine parameters."""
    return F.layer_norm(x, (x.shape[-1],), eps=eps)


def timestep_sinusoid(t: torch.Tensor, dim: int = 256) -> torch.Tensor:
    """[cos(t*f_j), sin(t*f_j)], f_j = exp(-ln(10000) * j / (dim/2)) (flip_sin_to_cos, shift 0).

    Built in float64: the argument reaches 1000 rad, where float32 loses ~1e-4 rad."""
    half = dim // 2
    j = torch.arange(half, dtype=torch.float64, device=t.device)
    freq = torch.exp(-math.log(10000.0) * j / half)
    arg = t.to(torch.float64)[..., None] * freq
    return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1)


def rope_angles(head_dim: int, frame_positions: torch.Tensor, rows: int, cols: int,
                theta: float) -> torch.Tensor:
    """Rotation angle of every (token, column pair): (N, head_dim/2), float64, on the device of
    `frame_positions` (so a model on a GPU builds its angles there, with no host copy per layer).

    Columns split t | h | w with dh = dw = 2*(d//6), dt = d - 2*dh; an axis of width a uses
    freq_j = theta^(-2j/a), j < a/2; tokens are frame-major, then row, then column."""
    dh = 2 * (head_dim // 6)
    dt = head_dim - 2 * dh
    dev = frame_positions.device

    def freqs(width):
        j = torch.arange(width // 2, dtype=torch.float64, device=dev)
        return theta ** (-2.0 * j / width)

    f = frame_positions.to(torch.float64)
    nf = f.numel()
    pos_t = f[:, None, None].expand(nf, rows, cols).reshape(-1)
    pos_h = torch.arange(rows, dtype=torch.float64, device=dev)[None, :, None]
    pos_h = pos_h.expand(nf, rows, cols).reshape(-1)
    pos_w = torch.arange(cols, dtype=torch.float64, device=dev)[None, None, :]
    pos_w = pos_w.expand(nf, rows, cols).reshape(-1)
    return torch.cat([pos_t[:, None] * freqs(dt), pos_h[:, None] * freqs(dh),
                      pos_w[:, None] * freqs(dh)], dim=1)


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotates interleaved pairs (2j, 2j+1) of the last dim of x (..., N, d) by angles (N, d/2)."""
    cos = torch.cos(angles).to(x.dtype)
    sin = torch.sin(angles).to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out0 = x0 * cos - x1 * sin
    out1 = x0 * sin + x1 * cos
    return torch.stack([out0, out1], dim=-1).flatten(-2)


def _per_token(v: torch.Tensor, tokens_per_frame: int) -> torch.Tensor:
    """(B, X) -> (B, 1, X) for one timestep per sample; (B, F', X) -> (B, N, X) per frame."""
    if v.dim() == 2:
        return v[:, None, :]
    return v.repeat_interleave(tokens_per_frame, dim=1)


# ----------------------------------------------------------------------------------------------------
# Modules (names = diffusers names of the contract table)
# ----------------------------------------------------------------------------------------------------
class _NormWeight(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))


class _TwoLinear(nn.Module):
    def __init__(self, d_in, d_hidden, d_out):
        super().__init__()
        self.linear_1 = nn.Linear(d_in, d_hidden)
        self.linear_2 = nn.Linear(d_hidden, d_out)


class _TimestepEmbed(nn.Module):
    def __init__(self, D):
        super().__init__()
        self.emb = nn.Module()
        self.emb.timestep_embedder = _TwoLinear(256, D, D)
        self.linear = nn.Linear(D, 6 * D)


class _Attention(nn.Module):
    def __init__(self, D, bias, sparse_branch=False):
        super().__init__()
        self.to_q = nn.Linear(D, D, bias=bias)
        self.to_k = nn.Linear(D, D, bias=bias)
        self.to_v = nn.Linear(D, D, bias=bias)
        self.norm_q = _NormWeight(D)
        self.norm_k = _NormWeight(D)
        if sparse_branch:  # sparse_linear: the exact branch enters through proj_s, zero at init
            self.proj_s = nn.Linear(D, D)
            nn.init.zeros_(self.proj_s.weight)
            nn.init.zeros_(self.proj_s.bias)
        self.to_out = nn.ModuleList([nn.Linear(D, D)])


class _MixFFN(nn.Module):
    def __init__(self, D, Hf):
        super().__init__()
        self.conv_inverted = nn.Conv2d(D, 2 * Hf, 1)
        self.conv_depth = nn.Conv2d(2 * Hf, 2 * Hf, 3, padding=1, groups=2 * Hf)
        self.conv_point = nn.Conv2d(Hf, D, 1, bias=False)
        self.conv_temp = nn.Conv2d(D, D, (3, 1), bias=False)


class _Block(nn.Module):
    def __init__(self, cfg: DitConfig):
        super().__init__()
        D = cfg.hidden_size
        self.scale_shift_table = nn.Parameter(torch.zeros(6, D))
        self.attn1 = _Attention(D, bias=False, sparse_branch=cfg.attention == "sparse_linear")
        self.attn2 = _Attention(D, bias=True)
        self.ff = _MixFFN(D, cfg.ffn_hidden)


@dataclass
class Grid:
    """Token grid of one forward: F' frames of H' x W' tokens, first frame at absolute `frame_offset`."""
    frames: int
    rows: int
    cols: int
    frame_offset: int = 0

    @property
    def tokens_per_frame(self):
        return self.rows * self.cols


def _frame_blocks(frames: int, block_frames: Optional[int]):
    """[start, end) token-frame ranges of the blocks; one block when attention is bidirectional."""
    if block_frames is None:
        return [(0, frames)]
    return [(s, min(s + block_frames, frames)) for s in range(0, frames, block_frames)]


class DiT(nn.Module):
    def __init__(self, cfg: DitConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        D, P = cfg.hidden_size, cfg.patch_volume
        self.patch_embedding = nn.Conv3d(cfg.in_channels, D, tuple(cfg.patch_size),
                                         stride=tuple(cfg.patch_size))
        self.time_embed = _TimestepEmbed(D)
        self.caption_projection = _TwoLinear(cfg.caption_dim, D, D)
        self.caption_norm = _NormWeight(D)
        self.scale_shift_table = nn.Parameter(torch.zeros(2, D))
        self.transformer_blocks = nn.ModuleList([_Block(cfg) for _ in range(cfg.num_layers)])
        self.proj_out = nn.Linear(D, P * cfg.out_channels)

    # --- stages exposed for goldens ------------------------------------------------------------------
    def grid_of(self, latents: torch.Tensor, frame_offset: int = 0) -> Grid:
        _, _, Fr, H, W = latents.shape
        pt, ph, pw = self.cfg.patch_size
        if Fr % pt or H % ph or W % pw:
            raise ValueError(f"latents {tuple(latents.shape)} not divisible by patch {self.cfg.patch_size}")
        return Grid(Fr // pt, H // ph, W // pw, frame_offset)

    def embed_patches(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, F, H, W) -> (B, N, D), tokens frame-major, then row, then column."""
        x = self.patch_embedding(latents)  # (B, D, F', H', W')
        return x.flatten(2).transpose(1, 2)

    def embed_timestep(self, timesteps: torch.Tensor):
        """t (B) or (B, F') -> (embedded_t (..., D), t6 (..., 6D))."""
        dtype = self.scale_shift_table.dtype
        te = self.time_embed
        emb = timestep_sinusoid(timesteps).to(dtype)
        embedded = te.emb.timestep_embedder.linear_2(F.silu(te.emb.timestep_embedder.linear_1(emb)))
        t6 = te.linear(F.silu(embedded))
        return embedded, t6

    def embed_caption(self, caption: torch.Tensor) -> torch.Tensor:
        """(B, L, Dc) -> (B, L, D)."""
        p = self.caption_projection
        c = p.linear_2(F.gelu(p.linear_1(caption), approximate="tanh"))
        return rms_norm(c, self.caption_norm.weight, self.cfg.caption_norm_eps)

    def unpatchify(self, o: torch.Tensor, grid: Grid) -> torch.Tensor:
        """(B, N, P*Co) with per-token layout (pt, ph, pw, Co) -> (B, Co, F, H, W)."""
        B = o.shape[0]
        pt, ph, pw = self.cfg.patch_size
        Co = self.cfg.out_channels
        o = o.reshape(B, grid.frames, grid.rows, grid.cols, pt, ph, pw, Co)
        o = o.permute(0, 7, 1, 4, 2, 5, 3, 6)
        return o.reshape(B, Co, grid.frames * pt, grid.rows * ph, grid.cols * pw)

    # --- one transformer block -----------------------------------------------------------------------
    def linear_branch(self, block: _Block, n: torch.Tensor, grid: Grid,
                      block_frames: Optional[int], layer_state: Optional[LayerState]):
        """Linear attention with RoPE on the numerator only, before to_out. Returns (out (B,N,D),
        (kv, ksum) after all tokens of this call were added to the incoming state)."""
        cfg = self.cfg
        a = block.attn1
        B, N, D = n.shape
        heads, d = cfg.num_heads, cfg.head_dim
        q = rms_norm(a.to_q(n), a.norm_q.weight, cfg.qk_norm_eps)
        k = rms_norm(a.to_k(n), a.norm_k.weight, cfg.qk_norm_eps)
        v = a.to_v(n)
        acc = _attention_dtype(n.dtype)

        def heads_of(x):  # (B, N, D) -> (B, heads, N, d), head-major columns
            return x.reshape(B, N, heads, d).transpose(1, 2).to(acc)

        phi_q, phi_k, v = F.relu(heads_of(q)), F.relu(heads_of(k)), heads_of(v)
        frames = torch.arange(grid.frames, device=n.device) + grid.frame_offset
        angles = rope_angles(d, frames, grid.rows, grid.cols, cfg.rope_theta)
        rot_q, rot_k = apply_rope(phi_q, angles), apply_rope(phi_k, angles)

        if layer_state is None:
            kv = torch.zeros(B, heads, d, d, dtype=acc, device=n.device)
            ksum = torch.zeros(B, heads, d, dtype=acc, device=n.device)
        else:
            kv, ksum = layer_state.kv.to(acc), layer_state.ksum.to(acc)
        hw = grid.tokens_per_frame
        outs = []
        # Block-causal = running sums: block b sees the state plus blocks 0..b of this call.
        for f0, f1 in _frame_blocks(grid.frames, block_frames):
            s = slice(f0 * hw, f1 * hw)
            kv = kv + torch.einsum("bhmi,bhmj->bhij", v[:, :, s], rot_k[:, :, s])
            ksum = ksum + phi_k[:, :, s].sum(dim=2)
            numer = torch.einsum("bhij,bhnj->bhni", kv, rot_q[:, :, s])
            denom = torch.einsum("bhnj,bhj->bhn", phi_q[:, :, s], ksum) + cfg.attn_eps
            outs.append(numer / denom[..., None])
        out = torch.cat(outs, dim=2).transpose(1, 2).reshape(B, N, D).to(n.dtype)
        return out, (kv, ksum)

    def linear_self_attention(self, block: _Block, n: torch.Tensor, grid: Grid,
                              block_frames: Optional[int], layer_state: Optional[LayerState]):
        """The `linear` kind: linear_branch, then to_out."""
        out, sums = self.linear_branch(block, n, grid, block_frames, layer_state)
        return block.attn1.to_out[0](out), sums

    def exact_branch(self, block: _Block, n: torch.Tensor, grid: Grid,
                     block_frames: Optional[int], layer_state: Optional[LayerState]):
        """Softmax attention (all of it for `softmax`, the SLA-selected tiles for `sparse_linear`)
        on RoPE-rotated normalized q, k within the block window, before to_out. Returns (out (B,N,D),
        kept keys, kept values) — see exact_attention.exact_self_attention."""
        cfg = self.cfg
        a = block.attn1
        B, N, D = n.shape
        heads, d = cfg.num_heads, cfg.head_dim
        acc = _attention_dtype(n.dtype)

        def heads_of(x):
            return x.reshape(B, N, heads, d).transpose(1, 2).to(acc)

        frames = torch.arange(grid.frames, device=n.device) + grid.frame_offset
        angles = rope_angles(d, frames, grid.rows, grid.cols, cfg.rope_theta)
        q = apply_rope(heads_of(rms_norm(a.to_q(n), a.norm_q.weight, cfg.qk_norm_eps)), angles)
        k = apply_rope(heads_of(rms_norm(a.to_k(n), a.norm_k.weight, cfg.qk_norm_eps)), angles)
        v = heads_of(a.to_v(n))
        topk = cfg.sla_topk if cfg.attention == "sparse_linear" else None
        if block_frames is None and layer_state is not None:
            block_frames = cfg.block_frames  # a block-AR call: its blocks are the model's
        past_k = layer_state.win_k if layer_state is not None else None
        past_v = layer_state.win_v if layer_state is not None else None
        out, win_k, win_v = exact_self_attention(
            q, k, v, grid.frames, grid.tokens_per_frame, block_frames, cfg.attention_window, topk,
            cfg.sla_tile_q, cfg.sla_tile_k, past_k, past_v)
        return out.transpose(1, 2).reshape(B, N, D).to(n.dtype), win_k, win_v

    def self_attention(self, block: _Block, n: torch.Tensor, grid: Grid,
                       block_frames: Optional[int], layer_state: Optional[LayerState]):
        """The layer's attention kind (README "Attention kinds"). Returns (out (B,N,D), (kv, ksum,
        win_k, win_v)) for the next LayerState (None where a kind keeps nothing)."""
        cfg = self.cfg
        a = block.attn1
        if cfg.attention == "linear":
            out, (kv, ksum) = self.linear_branch(block, n, grid, block_frames, layer_state)
            return a.to_out[0](out), (kv, ksum, None, None)
        if cfg.attention == "softmax":
            out, win_k, win_v = self.exact_branch(block, n, grid, block_frames, layer_state)
            return a.to_out[0](out), (None, None, win_k, win_v)
        # sparse_linear: the linear branch over every key + proj_s(the exact branch over the window).
        out, (kv, ksum) = self.linear_branch(block, n, grid, block_frames, layer_state)
        if cfg.attention_window == 0:  # no exact branch: pure linear attention
            empty = layer_state.win_k if layer_state is not None else None
            return a.to_out[0](out), (kv, ksum, empty, empty)
        exact, win_k, win_v = self.exact_branch(block, n, grid, block_frames, layer_state)
        return a.to_out[0](out + a.proj_s(exact)), (kv, ksum, win_k, win_v)

    def cross_attention(self, block: _Block, x: torch.Tensor, c: torch.Tensor,
                        caption_mask: torch.Tensor) -> torch.Tensor:
        """Softmax attention of x on the projected caption; masked keys are excluded exactly."""
        cfg = self.cfg
        a = block.attn2
        B, N, D = x.shape
        L = c.shape[1]
        heads, d = cfg.cross_num_heads, cfg.cross_head_dim
        q = rms_norm(a.to_q(x), a.norm_q.weight, cfg.qk_norm_eps)
        k = rms_norm(a.to_k(c), a.norm_k.weight, cfg.qk_norm_eps)
        v = a.to_v(c)
        q = q.reshape(B, N, heads, d).transpose(1, 2)
        k = k.reshape(B, L, heads, d).transpose(1, 2)
        v = v.reshape(B, L, heads, d).transpose(1, 2)
        scores = torch.einsum("bhnd,bhld->bhnl", q, k) / math.sqrt(d)
        keep = caption_mask.to(torch.bool)[:, None, None, :]
        scores = scores.masked_fill(~keep, float("-inf"))
        out = torch.einsum("bhnl,bhld->bhnd", torch.softmax(scores, dim=-1), v)
        return a.to_out[0](out.transpose(1, 2).reshape(B, N, D))

    def temporal_conv(self, block: _Block, y: torch.Tensor, block_frames: Optional[int],
                      tail: torch.Tensor):
        """y + conv_temp(y) over frames. y (B, F', HW, D); tail (B, 2, HW, D) = the two frames before y.

        Each block sees earlier frames (through `tail`) but never a later block: zero future padding at
        every block end (only matters for `centered`). Returns (y + z, last two input frames)."""
        W = block.ff.conv_temp.weight[:, :, :, 0]  # (D_out, D_in, 3)
        centered = self.cfg.temporal_conv == "centered"
        outs = []
        for f0, f1 in _frame_blocks(y.shape[1], block_frames):
            seg = y[:, f0:f1]
            ext = torch.cat([tail, seg], dim=1)  # ext[2 + f] = y[f]
            if centered:  # z[f] = sum_k W_k y[f-1+k]
                ext_r = torch.cat([ext, torch.zeros_like(ext[:, :1])], dim=1)
                taps = [ext_r[:, 1 + k:1 + k + seg.shape[1]] for k in range(3)]
            else:  # causal: z[f] = sum_k W_k y[f-2+k]
                taps = [ext[:, k:k + seg.shape[1]] for k in range(3)]
            z = sum(torch.einsum("bfsi,oi->bfso", taps[k], W[:, :, k]) for k in range(3))
            outs.append(seg + z)
            tail = ext[:, -2:]
        return torch.cat(outs, dim=1), tail

    def mix_ffn(self, block: _Block, n: torch.Tensor, grid: Grid, block_frames: Optional[int],
                tail: torch.Tensor):
        """GLUMBTempConv: per-frame inverted/depthwise/point convs, then the temporal conv."""
        ff = block.ff
        B, N, D = n.shape
        img = n.reshape(B * grid.frames, grid.rows, grid.cols, D).permute(0, 3, 1, 2)
        a = F.silu(ff.conv_inverted(img))
        a = ff.conv_depth(a)
        value, gate = a.chunk(2, dim=1)
        y = ff.conv_point(value * F.silu(gate))  # (B*F', D, H', W')
        y = y.permute(0, 2, 3, 1).reshape(B, grid.frames, grid.tokens_per_frame, D)
        y, new_tail = self.temporal_conv(block, y, block_frames, tail)
        return y.reshape(B, N, D), new_tail

    def block_forward(self, i: int, x: torch.Tensor, t6_tok: torch.Tensor, c: torch.Tensor,
                      caption_mask: torch.Tensor, grid: Grid, block_frames: Optional[int] = None,
                      layer_state: Optional[LayerState] = None):
        """Block i on tokens x (B, N, D); t6_tok (B, 1 or N, 6D). Returns (x, LayerState after)."""
        block = self.transformer_blocks[i]
        B, N, D = x.shape
        mod = block.scale_shift_table + t6_tok.reshape(B, t6_tok.shape[1], 6, D)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.unbind(dim=2)
        eps = self.cfg.norm_eps

        n = layer_norm(x, eps) * (1 + scale_msa) + shift_msa
        attn, (kv, ksum, win_k, win_v) = self.self_attention(block, n, grid, block_frames,
                                                             layer_state)
        x = x + gate_msa * attn

        x = x + self.cross_attention(block, x, c, caption_mask)

        n = layer_norm(x, eps) * (1 + scale_mlp) + shift_mlp
        tail = (layer_state.conv_tail if layer_state is not None
                else x.new_zeros(B, 2, grid.tokens_per_frame, D))
        y, new_tail = self.mix_ffn(block, n, grid, block_frames, tail)
        x = x + gate_mlp * y
        if kv is None:  # softmax keeps no linear sums: carry the incoming (zero) ones
            kv = layer_state.kv if layer_state is not None else None
            ksum = layer_state.ksum if layer_state is not None else None
        return x, LayerState(kv=kv, ksum=ksum, conv_tail=new_tail, win_k=win_k, win_v=win_v)

    # --- full forward ----------------------------------------------------------------------------------
    def forward(self, latents, timesteps, caption, caption_mask, causal_block_frames=None,
                frame_offset=0, state: Optional[BlockState] = None, update_state=False):
        """Velocity (B, Co, F, H, W).

        timesteps: (B) or (B, F') with t = 1000*sigma. causal_block_frames: None = bidirectional,
        else block-causal with blocks of that many token frames (counted from the first frame of this
        call). state: BlockState of earlier blocks (None = nothing before); frame_offset: absolute
        token-frame index of the first frame (RoPE). With update_state, returns (velocity, new state)
        where the new state also contains every token of this call."""
        grid = self.grid_of(latents, frame_offset)
        x = self.embed_patches(latents)
        embedded_t, t6 = self.embed_timestep(timesteps)
        if timesteps.dim() == 2 and timesteps.shape[1] != grid.frames:
            raise ValueError(f"timesteps {tuple(timesteps.shape)}: expected one per token frame "
                             f"({grid.frames})")
        hw = grid.tokens_per_frame
        t6_tok = _per_token(t6, hw)
        c = self.embed_caption(caption)
        new_layers = []
        for i in range(self.cfg.num_layers):
            layer_state = state.layers[i] if state is not None else None
            x, new_layer = self.block_forward(i, x, t6_tok, c, caption_mask, grid,
                                              causal_block_frames, layer_state)
            new_layers.append(new_layer)
        shift, scale = (self.scale_shift_table[None, None] + _per_token(embedded_t, hw)[:, :, None])\
            .unbind(dim=2)
        o = layer_norm(x, self.cfg.out_norm_eps) * (1 + scale) + shift
        velocity = self.unpatchify(self.proj_out(o), grid)
        if not update_state:
            return velocity
        done = (state.frames if state is not None else frame_offset) + grid.frames
        return velocity, BlockState(new_layers, frames=done)


# ----------------------------------------------------------------------------------------------------
# Model directory I/O
# ----------------------------------------------------------------------------------------------------
def load_model(model_dir: str, dtype=torch.float32):
    """Returns (DiT in eval mode, ModelConfig). Weights of any float dtype; strict names/shapes."""
    mcfg = load_config(model_dir)
    model = DiT(mcfg.transformer)
    weights = load_file(model_dir.rstrip("/") + "/transformer.safetensors")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{model_dir}: missing weights {missing}, unexpected weights {unexpected}")
    for name, t in weights.items():
        if tuple(t.shape) != tuple(expected[name].shape):
            raise ValueError(f"weight '{name}': shape {list(t.shape)}, expected "
                             f"{list(expected[name].shape)}")
    model.load_state_dict({k: v.to(torch.float32) for k, v in weights.items()})
    return model.to(dtype).eval(), mcfg


def save_model(model: DiT, mcfg: ModelConfig, model_dir: str, dtype=torch.float32,
               metadata: dict = None) -> None:
    import os
    os.makedirs(model_dir, exist_ok=True)
    save_config(mcfg, model_dir)
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, model_dir.rstrip("/") + "/transformer.safetensors", metadata or {})
