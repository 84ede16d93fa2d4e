"""A training-speed forward for reel_ref.LinearDiT (tools/reference), identical in math.

The reference loops over blocks with slices (clear, but its backward pass on 2 shared CPU cores is
dominated by slice/zero-fill copies). This computes the same block-causal forward with cumulative sums
over blocks and one causal conv over frames; `check()` (run by tests in train_dit.py --self-test)
compares it with `LinearDiT.forward` to ~1e-6. Only temporal_conv = "causal", patch t = 1.
"""
import torch
import torch.nn.functional as F

from reel_ref.dit import layer_norm, rms_norm, rope_angles


def _rope_tables(cfg, frames, rows, cols, dtype):
    ang = rope_angles(cfg.head_dim, torch.arange(frames), rows, cols, cfg.rope_theta)
    return torch.cos(ang).to(dtype), torch.sin(ang).to(dtype)


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


def _mix_ffn(model, block, n, frames, rows, cols):
    ff = block.ff
    B, N, D = n.shape
    y = _mix_ffn_per_frame(block, n, frames, rows, cols)
    yp = F.pad(y, (0, 0, 0, 0, 2, 0))
    taps = torch.cat([yp[:, k:k + frames] for k in range(3)], dim=-1)  # (B, F, HW, 3D), k-major
    W = ff.conv_temp.weight[:, :, :, 0].permute(0, 2, 1).reshape(D, 3 * D)
    return (y + taps @ W.t()).reshape(B, N, D)


def forward(model, latents, timesteps, caption, caption_mask, block_frames):
    """Same as model(latents, timesteps (B, F'), caption, caption_mask, causal_block_frames=...)."""
    cfg = model.cfg
    assert cfg.temporal_conv == "causal" and cfg.patch_size[0] == 1
    grid = model.grid_of(latents, 0)
    Fr, hw = grid.frames, grid.tokens_per_frame
    x = model.embed_patches(latents)
    B, N, D = x.shape
    embedded_t, t6 = model.embed_timestep(timesteps)
    if timesteps.dim() == 1:
        embedded_t, t6 = embedded_t[:, None].expand(B, Fr, D), t6[:, None].expand(B, Fr, 6 * D)
    t6 = t6.reshape(B, Fr, 1, 6, D)
    c = model.embed_caption(caption)
    cos, sin = _rope_tables(cfg, Fr, grid.rows, grid.cols, x.dtype)
    eps = cfg.norm_eps
    for block in model.transformer_blocks:
        mod = block.scale_shift_table + t6  # (B, F, 1, 6, D)
        sh1, sc1, g1, sh2, sc2, g2 = mod.unbind(dim=3)
        xr = x.view(B, Fr, hw, D)
        n = (layer_norm(xr, eps) * (1 + sc1) + sh1).reshape(B, N, D)
        att = _self_attention(model, block, n, Fr, hw, block_frames, cos, sin)
        x = x + (g1 * att.view(B, Fr, hw, D)).reshape(B, N, D)
        x = x + model.cross_attention(block, x, c, caption_mask)
        n = (layer_norm(x.view(B, Fr, hw, D), eps) * (1 + sc2) + sh2).reshape(B, N, D)
        y = _mix_ffn(model, block, n, Fr, grid.rows, grid.cols)
        x = x + (g2 * y.view(B, Fr, hw, D)).reshape(B, N, D)
    shift, scale = (model.scale_shift_table[None, None] + embedded_t[:, :, None]).unbind(dim=2)
    o = layer_norm(x.view(B, Fr, hw, D), eps) * (1 + scale[:, :, None]) + shift[:, :, None]
    return model.unpatchify(model.proj_out(o.reshape(B, N, D)), grid)


def check(model, frames=4, block_frames=1, seed=0):
    """Max abs difference between this forward and the reference's, on random inputs (float64)."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    m = model.double()
    B, H = 2, 8
    lat = torch.randn(B, cfg.in_channels, frames, H, H, generator=g, dtype=torch.float64)
    t = torch.rand(B, frames, generator=g, dtype=torch.float64) * 1000
    cap = torch.randn(B, 5, cfg.caption_dim, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    with torch.no_grad():
        a = m(lat, t, cap, mask, causal_block_frames=block_frames)
        b = forward(m, lat, t, cap, mask, block_frames)
    model.float()
    return (a - b).abs().max().item() / max(a.abs().max().item(), 1e-12)


# --------------------------------------------------------------------------------------------------
# Teacher-forced training: every latent frame is a denoising target in one forward.
# --------------------------------------------------------------------------------------------------
def _linear_attention_two_stream(model, block, n, frames, hw, cos, sin):
    """Self-attention for a (clean; noisy) pair of streams stacked on the batch (2B, N, D).

    Clean frame f sees clean frames <= f (block-causal, blocks of one frame). Noisy frame f sees the
    clean frames < f (the carried state of block-AR generation) plus itself, which is exactly what
    block f attends to while it is being denoised."""
    cfg = model.cfg
    a = block.attn1
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
    out = (numer / denom[..., None]).reshape(B2, h, N, d).transpose(1, 2).reshape(B2, N, D)
    return a.to_out[0](out)


def _mix_ffn_two_stream(model, block, n, frames, rows, cols):
    """Mix-FFN whose causal temporal conv feeds noisy frame f the clean frames f-2, f-1 (the conv
    boundary cache of block-AR generation) and clean frame f the clean ones."""
    ff = block.ff
    B2, N, D = n.shape
    B = B2 // 2
    y = _mix_ffn_per_frame(block, n, frames, rows, cols)
    clean = F.pad(y[:B], (0, 0, 0, 0, 2, 0))
    taps_clean = torch.cat([clean[:, k:k + frames] for k in range(3)], dim=-1)
    taps_noisy = torch.cat([clean[:, 0:frames], clean[:, 1:frames + 1], y[B:]], dim=-1)
    W = ff.conv_temp.weight[:, :, :, 0].permute(0, 2, 1).reshape(D, 3 * D)
    return (y + torch.cat([taps_clean, taps_noisy]) @ W.t()).reshape(B2, N, D)


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
    x = model.embed_patches(torch.cat([clean, noisy]))
    B2, N, D = x.shape
    embedded_t, t6 = model.embed_timestep(torch.cat([torch.zeros_like(timesteps), timesteps]))
    t6 = t6.reshape(B2, Fr, 1, 6, D)
    c = model.embed_caption(torch.cat([caption, caption]))
    mask = torch.cat([caption_mask, caption_mask])
    cos, sin = _rope_tables(cfg, Fr, grid.rows, grid.cols, x.dtype)
    eps = cfg.norm_eps
    for block in model.transformer_blocks:
        sh1, sc1, g1, sh2, sc2, g2 = (block.scale_shift_table + t6).unbind(dim=3)
        n = (layer_norm(x.view(B2, Fr, hw, D), eps) * (1 + sc1) + sh1).reshape(B2, N, D)
        att = _linear_attention_two_stream(model, block, n, Fr, hw, cos, sin)
        x = x + (g1 * att.view(B2, Fr, hw, D)).reshape(B2, N, D)
        x = x + model.cross_attention(block, x, c, mask)
        n = (layer_norm(x.view(B2, Fr, hw, D), eps) * (1 + sc2) + sh2).reshape(B2, N, D)
        y = _mix_ffn_two_stream(model, block, n, Fr, grid.rows, grid.cols)
        x = x + (g2 * y.view(B2, Fr, hw, D)).reshape(B2, N, D)
    x = x[B:]
    shift, scale = (model.scale_shift_table[None, None] + embedded_t[B:, :, None]).unbind(dim=2)
    o = layer_norm(x.view(B, Fr, hw, D), eps) * (1 + scale[:, :, None]) + shift[:, :, None]
    return model.unpatchify(model.proj_out(o.reshape(B, N, D)), grid)


def check_teacher_forced(model, frames=3, seed=0):
    """Max relative difference of forward_teacher_forced from one reference forward per frame."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    m = model.double()
    B, H = 2, 8
    clean = torch.randn(B, cfg.in_channels, frames, H, H, generator=g, dtype=torch.float64)
    noisy = torch.randn(B, cfg.in_channels, frames, H, H, generator=g, dtype=torch.float64)
    t = torch.rand(B, frames, generator=g, dtype=torch.float64) * 1000
    cap = torch.randn(B, 5, cfg.caption_dim, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
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
