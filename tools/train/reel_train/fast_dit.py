"""A training-speed forward for reel_ref.DiT (tools/reference), identical in math.

The reference loops over blocks with slices (clear, but its backward pass on 2 shared CPU cores is
dominated by slice/zero-fill copies). This computes the same block-causal forward with cumulative sums
over blocks and one causal conv over frames; `check()` (run by tests in train_dit.py --self-test)
compares it with `DiT.forward` to ~1e-6. Only temporal_conv = "causal", patch t = 1.
"""
import torch
import torch.nn.functional as F

from reel_ref.dit import layer_norm, rms_norm, rope_angles
from reel_ref.exact_attention import window_attention


def _rope_tables(cfg, frames, rows, cols, like):
    """cos, sin of the RoPE angles (built in float64 on the CPU) in `like`'s dtype and device."""
    ang = rope_angles(cfg.head_dim, torch.arange(frames), rows, cols, cfg.rope_theta)
    return (torch.cos(ang).to(like.device, like.dtype), torch.sin(ang).to(like.device, like.dtype))


def _rotate(x, cos, sin):
    x2 = x.unflatten(-1, (-1, 2))
    x0, x1 = x2[..., 0], x2[..., 1]
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)


def _phi_qkv(cfg, block, n):
    """ReLU features of the normalized queries and keys, and the values: (B, heads, N, d) each."""
    a = block.attn1
    B, N, _ = n.shape
    h, d = cfg.num_heads, cfg.head_dim
    q = rms_norm(a.to_q(n), a.norm_q.weight, cfg.qk_norm_eps)
    k = rms_norm(a.to_k(n), a.norm_k.weight, cfg.qk_norm_eps)
    heads = lambda x: x.view(B, N, h, d).transpose(1, 2)  # noqa: E731
    return F.relu(heads(q)), F.relu(heads(k)), heads(a.to_v(n))


def _self_attention(model, block, n, frames, hw, block_frames, cos, sin):
    cfg = model.cfg
    a = block.attn1
    B, N, D = n.shape
    h, d = cfg.num_heads, cfg.head_dim
    q, k, v = _phi_qkv(cfg, block, n)
    rq, rk = _rotate(q, cos, sin), _rotate(k, cos, sin)
    nb = frames // block_frames
    T = block_frames * hw
    kv = torch.einsum("bhnti,bhntj->bhnij", v.reshape(B, h, nb, T, d), rk.reshape(B, h, nb, T, d))
    kv = kv.cumsum(dim=2)
    ks = k.reshape(B, h, nb, T, d).sum(dim=3).cumsum(dim=2)
    numer = torch.einsum("bhnij,bhntj->bhnti", kv, rq.reshape(B, h, nb, T, d))
    denom = torch.einsum("bhntj,bhnj->bhnt", q.reshape(B, h, nb, T, d), ks) + cfg.attn_eps
    out = (numer / denom[..., None]).reshape(B, h, N, d).transpose(1, 2).reshape(B, N, D)
    return a.to_out[0](out)


def _mix_ffn_per_frame(block, n, frames, rows, cols):
    """The Mix-FFN's per-frame part (inverted, depthwise, gated point convs): (B, F, HW, D)."""
    ff = block.ff
    B, N, D = n.shape
    img = n.reshape(B * frames, rows, cols, D).permute(0, 3, 1, 2)
    a = ff.conv_depth(F.silu(ff.conv_inverted(img)))
    value, gate = a.chunk(2, dim=1)
    y = ff.conv_point(value * F.silu(gate))
    return y.permute(0, 2, 3, 1).reshape(B, frames, rows * cols, D)


def _temporal_taps_weight(block):
    """The causal temporal conv as one (3D, D) matrix for taps concatenated k-major: frames f-2,
    f-1, f."""
    W = block.ff.conv_temp.weight[:, :, :, 0]  # (D_out, D_in, 3)
    return W.permute(0, 2, 1).reshape(W.shape[0], -1).t()


def _mix_ffn(block, n, frames, rows, cols):
    B, N, D = n.shape
    y = _mix_ffn_per_frame(block, n, frames, rows, cols)
    yp = F.pad(y, (0, 0, 0, 0, 2, 0))
    taps = torch.cat([yp[:, k:k + frames] for k in range(3)], dim=-1)  # (B, F, HW, 3D), k-major
    return (y + taps @ _temporal_taps_weight(block)).reshape(B, N, D)


def _run_blocks(model, x, t6, c, caption_mask, grid, attention, mix_ffn):
    """The transformer blocks on tokens x (B, N, D) with per-frame modulation t6 (B, F, 6D);
    attention(block, n, cos, sin) and mix_ffn(block, n) are the two mixing steps."""
    cfg = model.cfg
    B, N, D = x.shape
    Fr, hw = grid.frames, grid.tokens_per_frame
    t6 = t6.reshape(B, Fr, 1, 6, D)
    cos, sin = _rope_tables(cfg, Fr, grid.rows, grid.cols, x)
    eps = cfg.norm_eps
    for block in model.transformer_blocks:
        sh1, sc1, g1, sh2, sc2, g2 = (block.scale_shift_table + t6).unbind(dim=3)
        n = (layer_norm(x.view(B, Fr, hw, D), eps) * (1 + sc1) + sh1).reshape(B, N, D)
        x = x + (g1 * attention(block, n, cos, sin).view(B, Fr, hw, D)).reshape(B, N, D)
        x = x + model.cross_attention(block, x, c, caption_mask)
        n = (layer_norm(x.view(B, Fr, hw, D), eps) * (1 + sc2) + sh2).reshape(B, N, D)
        x = x + (g2 * mix_ffn(block, n).view(B, Fr, hw, D)).reshape(B, N, D)
    return x


def _output(model, x, embedded_t, grid):
    """Final modulated norm, projection and unpatchify: velocity (B, C, F, H, W)."""
    B, N, D = x.shape
    Fr, hw = grid.frames, grid.tokens_per_frame
    shift, scale = (model.scale_shift_table[None, None] + embedded_t[:, :, None]).unbind(dim=2)
    o = layer_norm(x.view(B, Fr, hw, D), model.cfg.norm_eps) * (1 + scale[:, :, None])
    o = o + shift[:, :, None]
    return model.unpatchify(model.proj_out(o.reshape(B, N, D)), grid)


def forward(model, latents, timesteps, caption, caption_mask, block_frames):
    """Same as model(latents, timesteps (B, F'), caption, caption_mask, causal_block_frames=...)."""
    cfg = model.cfg
    if cfg.attention != "linear":  # the exact kinds train teacher-forced; this path is the reference
        return model(latents, timesteps, caption, caption_mask, causal_block_frames=block_frames)
    assert cfg.temporal_conv == "causal" and cfg.patch_size[0] == 1
    grid = model.grid_of(latents, 0)
    Fr, hw = grid.frames, grid.tokens_per_frame
    x = model.embed_patches(latents)
    B, N, D = x.shape
    embedded_t, t6 = model.embed_timestep(timesteps)
    if timesteps.dim() == 1:
        embedded_t, t6 = embedded_t[:, None].expand(B, Fr, D), t6[:, None].expand(B, Fr, 6 * D)
    x = _run_blocks(
        model, x, t6, model.embed_caption(caption), caption_mask, grid,
        lambda block, n, cos, sin: _self_attention(model, block, n, Fr, hw, block_frames, cos, sin),
        lambda block, n: _mix_ffn(block, n, Fr, grid.rows, grid.cols))
    return _output(model, x, embedded_t, grid)


def _random_inputs(cfg, frames, seed, videos):
    """float64 test inputs: `videos` latents (2, C, frames, 8, 8), timesteps (2, frames), a caption
    (2, 5, caption_dim) and its mask (3 and 1 valid tokens)."""
    g = torch.Generator().manual_seed(seed)
    lat = [torch.randn(2, cfg.in_channels, frames, 8, 8, generator=g, dtype=torch.float64)
           for _ in range(videos)]
    t = torch.rand(2, frames, generator=g, dtype=torch.float64) * 1000
    cap = torch.randn(2, 5, cfg.caption_dim, generator=g, dtype=torch.float64)
    return lat, t, cap, torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])


def check(model, frames=4, block_frames=1, seed=0):
    """Max abs difference between this forward and the reference's, on random inputs (float64)."""
    m = model.double()
    (lat,), t, cap, mask = _random_inputs(model.cfg, frames, seed, videos=1)
    with torch.no_grad():
        a = m(lat, t, cap, mask, causal_block_frames=block_frames)
        b = forward(m, lat, t, cap, mask, block_frames)
    model.float()
    return (a - b).abs().max().item() / max(a.abs().max().item(), 1e-12)


# --------------------------------------------------------------------------------------------------
# Teacher-forced training: every latent frame is a denoising target in one forward.
# --------------------------------------------------------------------------------------------------
def _linear_attention_two_stream(cfg, block, n, frames, hw, cos, sin):
    """The layer's attention kind on the two streams (below), through to_out."""
    a = block.attn1
    if cfg.attention == "softmax":
        return a.to_out[0](_exact_two_stream(cfg, block, n, frames, hw, cos, sin))
    out = _linear_two_stream(cfg, block, n, frames, hw, cos, sin)
    if cfg.attention == "sparse_linear" and cfg.attention_window > 0:
        out = out + a.proj_s(_exact_two_stream(cfg, block, n, frames, hw, cos, sin))
    return a.to_out[0](out)


def _exact_two_stream(cfg, block, n, frames, hw, cos, sin):
    """The exact branch (reel_ref.exact_attention, blocks of one frame) on the two streams: clean
    frame f sees the clean frames of its window, noisy frame f the clean frames f-W+1 .. f-1 and
    itself — the window block-AR generation keeps while it denoises frame f."""
    a = block.attn1
    B2, N, D = n.shape
    B, h, d = B2 // 2, cfg.num_heads, cfg.head_dim
    heads = lambda x: x.view(B2, N, h, d).transpose(1, 2)  # noqa: E731
    q = _rotate(heads(rms_norm(a.to_q(n), a.norm_q.weight, cfg.qk_norm_eps)), cos, sin)
    k = _rotate(heads(rms_norm(a.to_k(n), a.norm_k.weight, cfg.qk_norm_eps)), cos, sin)
    v = heads(a.to_v(n))
    topk = cfg.sla_topk if cfg.attention == "sparse_linear" else None
    W = cfg.attention_window
    outs = []
    for f in range(frames):
        first = 0 if W == 0 else max(0, f - W + 1)
        own = slice(f * hw, (f + 1) * hw)
        ctx = slice(first * hw, f * hw)
        streams = []
        for rows in (slice(0, B), slice(B, B2)):  # clean, noisy: both see the clean context
            keys = torch.cat([k[:B, :, ctx], k[rows, :, own]], dim=2)
            vals = torch.cat([v[:B, :, ctx], v[rows, :, own]], dim=2)
            streams.append(window_attention(q[rows, :, own], keys, vals, topk, cfg.sla_tile_q,
                                            cfg.sla_tile_k, hw))
        outs.append(torch.cat(streams))
    return torch.cat(outs, dim=2).transpose(1, 2).reshape(B2, N, D)


def _linear_two_stream(cfg, block, n, frames, hw, cos, sin):
    """Self-attention for a (clean; noisy) pair of streams stacked on the batch (2B, N, D).

    Clean frame f sees clean frames <= f (block-causal, blocks of one frame). Noisy frame f sees the
    clean frames < f (the carried state of block-AR generation) plus itself, which is exactly what
    block f attends to while it is being denoised."""
    B2, N, D = n.shape
    B, h, d = B2 // 2, cfg.num_heads, cfg.head_dim
    q, k, v = (x.reshape(B2, h, frames, hw, d) for x in _phi_qkv(cfg, block, n))
    rq = _rotate(q, cos.view(frames, hw, -1), sin.view(frames, hw, -1))
    rk = _rotate(k, cos.view(frames, hw, -1), sin.view(frames, hw, -1))
    kv = torch.einsum("bhnti,bhntj->bhnij", v, rk)  # each frame's own sum
    ks = k.sum(dim=3)
    kv_clean, ks_clean = kv[:B].cumsum(dim=2), ks[:B].cumsum(dim=2)
    before = lambda s: F.pad(s[:, :, :-1], (0,) * (2 * (s.dim() - 3)) + (1, 0))  # noqa: E731
    kv_state = torch.cat([kv_clean, before(kv_clean) + kv[B:]])
    ks_state = torch.cat([ks_clean, before(ks_clean) + ks[B:]])
    numer = torch.einsum("bhnij,bhntj->bhnti", kv_state, rq)
    denom = torch.einsum("bhntj,bhnj->bhnt", q, ks_state) + cfg.attn_eps
    return (numer / denom[..., None]).reshape(B2, h, N, d).transpose(1, 2).reshape(B2, N, D)


def _mix_ffn_two_stream(block, n, frames, rows, cols):
    """Mix-FFN whose causal temporal conv feeds noisy frame f the clean frames f-2, f-1 (the conv
    boundary cache of block-AR generation) and clean frame f the clean ones."""
    B2, N, D = n.shape
    B = B2 // 2
    y = _mix_ffn_per_frame(block, n, frames, rows, cols)
    clean = F.pad(y[:B], (0, 0, 0, 0, 2, 0))
    taps_clean = torch.cat([clean[:, k:k + frames] for k in range(3)], dim=-1)
    taps_noisy = torch.cat([clean[:, 0:frames], clean[:, 1:frames + 1], y[B:]], dim=-1)
    taps = torch.cat([taps_clean, taps_noisy])
    return (y + taps @ _temporal_taps_weight(block)).reshape(B2, N, D)


def forward_teacher_forced(model, clean, noisy, timesteps, caption, caption_mask):
    """Velocity (B, C, F, H, W) of every noisy frame f given the clean frames < f as context.

    Output frame f equals `model(cat(clean[:, :, :f], noisy[:, :, f:f+1]), t=[0]*f + [t_f],
    caption, mask, causal_block_frames=1)[:, :, f]` (see check_teacher_forced): one forward gives
    each frame the exact view it has during block-autoregressive generation with blocks of one
    latent frame. timesteps: (B, F) for the noisy frames; the clean stream has t = 0."""
    cfg = model.cfg
    assert cfg.temporal_conv == "causal" and cfg.patch_size[0] == 1
    B = clean.shape[0]
    grid = model.grid_of(clean, 0)
    Fr, hw = grid.frames, grid.tokens_per_frame
    embedded_t, t6 = model.embed_timestep(torch.cat([torch.zeros_like(timesteps), timesteps]))
    x = _run_blocks(
        model, model.embed_patches(torch.cat([clean, noisy])), t6,
        model.embed_caption(torch.cat([caption, caption])), torch.cat([caption_mask, caption_mask]),
        grid, lambda blk, n, cos, sin: _linear_attention_two_stream(cfg, blk, n, Fr, hw, cos, sin),
        lambda blk, n: _mix_ffn_two_stream(blk, n, Fr, grid.rows, grid.cols))
    return _output(model, x[B:], embedded_t[B:], grid)


def check_teacher_forced(model, frames=3, seed=0):
    """Max relative difference of forward_teacher_forced from one reference forward per frame."""
    m = model.double()
    (clean, noisy), t, cap, mask = _random_inputs(model.cfg, frames, seed, videos=2)
    B = clean.shape[0]
    with torch.no_grad():
        fast = forward_teacher_forced(m, clean, noisy, t, cap, mask)
        ref = []
        for f in range(frames):
            lat = torch.cat([clean[:, :, :f], noisy[:, :, f:f + 1]], dim=2)
            tf = torch.cat([torch.zeros(B, f, dtype=t.dtype), t[:, f:f + 1]], dim=1)
            ref.append(m(lat, tf, cap, mask, causal_block_frames=1)[:, :, f:f + 1])
        ref = torch.cat(ref, dim=2)
    model.float()
    return (fast - ref).abs().max().item() / max(ref.abs().max().item(), 1e-12)
