"""Independent checks of the PyTorch reference (closed forms and invariants; no golden files).

    /usr/bin/python3 -m unittest discover -s tools/reference -p 'test_*.py'
"""
import json
import math
import os
import struct
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref import BlockState, load_model, save_model  # noqa: E402
from reel_ref import config as config_mod  # noqa: E402
from reel_ref import noise, sampler  # noqa: E402
from reel_ref.dit import apply_rope, rope_angles, timestep_sinusoid  # noqa: E402
from reel_ref.safetensors_io import load_file_with_metadata, save_file  # noqa: E402
from reel_ref.testing import random_model, small_config  # noqa: E402

F64 = torch.float64
torch.set_num_threads(1)


def _inputs(cfg, B, frames, H=8, W=8, L=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(B, cfg.in_channels, frames, H, W, generator=g, dtype=F64)
    caption = torch.randn(B, L, cfg.caption_dim, generator=g, dtype=F64)
    mask = torch.ones(B, L, dtype=F64)
    mask[:, L - 2:] = 0
    return latents, caption, mask


def _dense_block_causal_attention(model, block, n, grid, block_frames):
    """Oracle: N x N masked linear attention, written out token by token (no running sums)."""
    cfg = model.cfg
    a = block.attn1
    B, N, D = n.shape
    h, d = cfg.num_heads, cfg.head_dim

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + cfg.qk_norm_eps) * w

    q = torch.relu(rms(a.to_q(n), a.norm_q.weight).reshape(B, N, h, d))
    k = torch.relu(rms(a.to_k(n), a.norm_k.weight).reshape(B, N, h, d))
    v = a.to_v(n).reshape(B, N, h, d)
    hw = grid.rows * grid.cols
    block_of = torch.arange(N) // hw // block_frames if block_frames else torch.zeros(N)
    visible = (block_of[None, :] <= block_of[:, None]).to(n.dtype)  # [query, key]
    out = torch.zeros(B, N, h, d, dtype=n.dtype)
    for i in range(N):  # explicit per-token rotation with its own (t, row, col)
        f, r, c = i // hw, (i % hw) // grid.cols, i % grid.cols
        ang_i = _token_angles(d, f, r, c, cfg.rope_theta)
        qi_rot = _rotate(q[:, i], ang_i)
        num = torch.zeros(B, h, d, dtype=n.dtype)
        den = torch.zeros(B, h, dtype=n.dtype)
        for m in range(N):
            if not visible[i, m]:
                continue
            fm, rm, cm = m // hw, (m % hw) // grid.cols, m % grid.cols
            km_rot = _rotate(k[:, m], _token_angles(d, fm, rm, cm, cfg.rope_theta))
            num += (qi_rot * km_rot).sum(-1, keepdim=True) * v[:, m]
            den += (q[:, i] * k[:, m]).sum(-1)
        out[:, i] = num / (den[..., None] + cfg.attn_eps)
    return a.to_out[0](out.reshape(B, N, D))


def _token_angles(d, f, r, c, theta):
    dh = 2 * (d // 6)
    dt = d - 2 * dh
    ang = []
    for width, pos in ((dt, f), (dh, r), (dh, c)):
        ang += [pos * theta ** (-2.0 * j / width) for j in range(width // 2)]
    return torch.tensor(ang, dtype=F64)


def _rotate(x, ang):
    out = x.clone()
    cos, sin = torch.cos(ang), torch.sin(ang)
    out[..., 0::2] = x[..., 0::2] * cos - x[..., 1::2] * sin
    out[..., 1::2] = x[..., 0::2] * sin + x[..., 1::2] * cos
    return out


class ModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cfg = small_config()
        cls.model = random_model(cls.cfg, seed=3, dtype=F64)

    def test_parameter_names_match_contract(self):
        D, Dc, Hf, P, C = 64, 24, 96, 4, 4
        want = {
            "patch_embedding.weight": (D, C, 1, 2, 2), "patch_embedding.bias": (D,),
            "time_embed.emb.timestep_embedder.linear_1.weight": (D, 256),
            "time_embed.emb.timestep_embedder.linear_1.bias": (D,),
            "time_embed.emb.timestep_embedder.linear_2.weight": (D, D),
            "time_embed.emb.timestep_embedder.linear_2.bias": (D,),
            "time_embed.linear.weight": (6 * D, D), "time_embed.linear.bias": (6 * D,),
            "caption_projection.linear_1.weight": (D, Dc), "caption_projection.linear_1.bias": (D,),
            "caption_projection.linear_2.weight": (D, D), "caption_projection.linear_2.bias": (D,),
            "caption_norm.weight": (D,), "scale_shift_table": (2, D),
            "proj_out.weight": (P * C, D), "proj_out.bias": (P * C,),
        }
        for i in range(2):
            b = f"transformer_blocks.{i}."
            want[b + "scale_shift_table"] = (6, D)
            for w in ("to_q", "to_k", "to_v"):
                want[b + f"attn1.{w}.weight"] = (D, D)
                want[b + f"attn2.{w}.weight"] = (D, D)
                want[b + f"attn2.{w}.bias"] = (D,)
            for a in ("attn1", "attn2"):
                want[b + f"{a}.norm_q.weight"] = (D,)
                want[b + f"{a}.norm_k.weight"] = (D,)
                want[b + f"{a}.to_out.0.weight"] = (D, D)
                want[b + f"{a}.to_out.0.bias"] = (D,)
            want[b + "ff.conv_inverted.weight"] = (2 * Hf, D, 1, 1)
            want[b + "ff.conv_inverted.bias"] = (2 * Hf,)
            want[b + "ff.conv_depth.weight"] = (2 * Hf, 1, 3, 3)
            want[b + "ff.conv_depth.bias"] = (2 * Hf,)
            want[b + "ff.conv_point.weight"] = (D, Hf, 1, 1)
            want[b + "ff.conv_temp.weight"] = (D, D, 3, 1)
        got = {k: tuple(v.shape) for k, v in self.model.state_dict().items()}
        self.assertEqual(got, want)

    def test_timestep_sinusoid_closed_form(self):
        t = torch.tensor([0.0, 1.0, 757.0])
        emb = timestep_sinusoid(t)
        for row, tv in enumerate(t.tolist()):
            for j in (0, 1, 64, 127):
                arg = tv * math.exp(-math.log(10000.0) * j / 128)
                self.assertAlmostEqual(emb[row, j].item(), math.cos(arg), places=12)
                self.assertAlmostEqual(emb[row, 128 + j].item(), math.sin(arg), places=12)

    def test_rope_identity_at_zero_and_norm_preserving(self):
        d = 32
        x = torch.randn(3, 5, d, dtype=F64)
        zero = rope_angles(d, torch.zeros(1), 1, 1, 10000.0)  # one token at (0, 0, 0)
        self.assertTrue(torch.equal(apply_rope(x[:, :1], zero), x[:, :1]))
        ang = rope_angles(d, torch.tensor([3.0, 11.0]), 2, 3, 10000.0)  # 12 tokens
        x = torch.randn(4, ang.shape[0], d, dtype=F64)
        y = apply_rope(x, ang)
        pair = lambda z: z[..., 0::2] ** 2 + z[..., 1::2] ** 2  # noqa: E731
        torch.testing.assert_close(pair(y), pair(x), rtol=1e-12, atol=1e-12)
        # Relative: <rot(q, p), rot(k, p')> depends only on p - p' (per axis).
        q, k = torch.randn(d, dtype=F64), torch.randn(d, dtype=F64)
        a1 = _token_angles(d, 5, 1, 2, 10000.0) - _token_angles(d, 2, 0, 0, 10000.0)
        a2 = _token_angles(d, 3, 1, 2, 10000.0)
        dot1 = (apply_rope(q[None], _token_angles(d, 5, 1, 2, 10000.0)[None])
                * apply_rope(k[None], _token_angles(d, 2, 0, 0, 10000.0)[None])).sum()
        dot2 = (apply_rope(q[None], a2[None]) * k).sum()
        self.assertTrue(torch.allclose(a1, a2))
        self.assertAlmostEqual(dot1.item(), dot2.item(), places=10)
        # Column layout: t | h | w = 12 | 10 | 10 columns for d = 32.
        one_row = rope_angles(d, torch.zeros(1), 2, 1, 10000.0)[1]  # token at row 1
        self.assertTrue(torch.all(one_row[:6] == 0) and torch.all(one_row[11:] == 0))
        self.assertEqual(one_row[6].item(), 1.0)

    def test_block_causal_attention_matches_dense_masked_oracle(self):
        m = self.model
        latents, _, _ = _inputs(self.cfg, 1, 3, H=4, W=4)
        grid = m.grid_of(latents, frame_offset=0)
        n = m.embed_patches(latents)
        blk = m.transformer_blocks[1]
        for bf in (None, 1, 2):
            with self.subTest(block_frames=bf):
                got, _ = m.linear_self_attention(blk, n, grid, bf, None)
                want = _dense_block_causal_attention(m, blk, n, grid, bf)
                torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)

    def test_block_causal_forward_equals_block_ar_with_state(self):
        """The README invariant, per-frame timesteps 0 for earlier blocks, t for the current one."""
        for conv in ("causal", "centered"):
            for bf in (1, 2):
                with self.subTest(temporal_conv=conv, block_frames=bf):
                    cfg = small_config(temporal_conv=conv, block_frames=bf)
                    m = random_model(cfg, seed=5, dtype=F64)
                    B, frames = 2, 6
                    latents, cap, mask = _inputs(cfg, B, frames)
                    t = torch.tensor([640.0, 80.0], dtype=F64)
                    state = BlockState.zeros(cfg, B, 16, F64)
                    for f0 in range(0, frames, bf):
                        cur = latents[:, :, f0:f0 + bf]
                        v_ar = m(cur, t, cap, mask, frame_offset=f0, state=state)
                        tf = torch.cat([torch.zeros(B, f0, dtype=F64),
                                        t[:, None].expand(B, bf)], 1)
                        v_full = m(latents[:, :, :f0 + bf], tf, cap, mask, causal_block_frames=bf)
                        torch.testing.assert_close(v_ar, v_full[:, :, f0:], rtol=1e-10, atol=1e-10)
                        _, state = m(cur, torch.zeros(B, dtype=F64), cap, mask, frame_offset=f0,
                                     state=state, update_state=True)
                    self.assertEqual(state.frames, frames)

    def test_state_split_into_chunks_equals_unsplit(self):
        m, cfg = self.model, self.cfg
        B = 2
        latents, cap, mask = _inputs(cfg, B, 4)
        t0 = torch.zeros(B, dtype=F64)
        _, whole = m(latents, t0, cap, mask, causal_block_frames=2,
                     state=BlockState.zeros(cfg, B, 16, F64), update_state=True)
        # The chunked path needs the same token features per chunk, so use block-causal chunks
        # equal to the blocks of the unsplit call.
        s = BlockState.zeros(cfg, B, 16, F64)
        for f0 in (0, 2):
            _, s = m(latents[:, :, f0:f0 + 2], t0, cap, mask, frame_offset=f0, state=s,
                     update_state=True)
        for a, b in zip(whole.layers, s.layers):
            torch.testing.assert_close(a.kv, b.kv, rtol=1e-10, atol=1e-9)
            torch.testing.assert_close(a.ksum, b.ksum, rtol=1e-10, atol=1e-9)
            torch.testing.assert_close(a.conv_tail, b.conv_tail, rtol=1e-10, atol=1e-10)
        # And layer 0's state (its input is just the patch embedding) against explicit sums.
        m0 = m.transformer_blocks[0]
        x = m.embed_patches(latents)
        _, t6 = m.embed_timestep(t0)
        mod = m0.scale_shift_table + t6.reshape(B, 1, 6, 64)
        n = torch.nn.functional.layer_norm(x, (64,), eps=1e-6) * (1 + mod[:, :, 1]) + mod[:, :, 0]
        a = m0.attn1
        rms = lambda z, w: z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + 1e-5) * w  # noqa: E731
        k = torch.relu(rms(a.to_k(n), a.norm_k.weight)).reshape(B, -1, 2, 32)
        torch.testing.assert_close(whole.layers[0].ksum, k.sum(1), rtol=1e-10, atol=1e-9)

    def test_batch_equals_single(self):
        m, cfg = self.model, self.cfg
        latents, cap, mask = _inputs(cfg, 2, 4)
        mask[1, 3:] = 0
        t = torch.tensor([[0.0, 0.0, 500.0, 500.0], [0.0, 0.0, 20.0, 20.0]], dtype=F64)
        v = m(latents, t, cap, mask, causal_block_frames=2)
        for b in range(2):
            vb = m(latents[b:b + 1], t[b:b + 1], cap[b:b + 1], mask[b:b + 1], causal_block_frames=2)
            torch.testing.assert_close(v[b:b + 1], vb, rtol=1e-10, atol=1e-10)

    def test_masked_caption_tokens_are_excluded_exactly(self):
        m, cfg = self.model, self.cfg
        latents, cap, mask = _inputs(cfg, 1, 2)
        t = torch.tensor([300.0], dtype=F64)
        cap2 = cap.clone()
        cap2[:, -2:] = 1e3 * torch.randn_like(cap2[:, -2:])  # masked positions
        torch.testing.assert_close(m(latents, t, cap, mask), m(latents, t, cap2, mask),
                                   rtol=0, atol=0)
        cap2[:, 0] += 1.0  # an unmasked one must matter
        self.assertGreater((m(latents, t, cap, mask) - m(latents, t, cap2, mask)).abs().max(), 1e-4)

    def test_block_causal_never_sees_the_future(self):
        for conv in ("causal", "centered"):
            cfg = small_config(temporal_conv=conv)
            m = random_model(cfg, seed=7, dtype=F64)
            latents, cap, mask = _inputs(cfg, 1, 4)
            t = torch.tensor([400.0], dtype=F64)
            changed = latents.clone()
            changed[:, :, 2:] += 1.0
            v1 = m(latents, t, cap, mask, causal_block_frames=2)
            v2 = m(changed, t, cap, mask, causal_block_frames=2)
            torch.testing.assert_close(v1[:, :, :2], v2[:, :, :2], rtol=0, atol=0)
            vb1, vb2 = m(latents, t, cap, mask), m(changed, t, cap, mask)  # bidirectional does
            self.assertGreater((vb1[:, :, :2] - vb2[:, :, :2]).abs().max(), 1e-4)

    def test_temporal_conv_against_conv2d(self):
        """Whole-clip temporal conv vs torch's Conv2d with the README padding (independent op)."""
        for conv, pad in (("causal", (0, 0, 2, 0)), ("centered", (0, 0, 1, 1))):
            cfg = small_config(temporal_conv=conv)
            m = random_model(cfg, seed=2, dtype=F64)
            blk = m.transformer_blocks[0]
            y = torch.randn(2, 5, 16, 64, dtype=F64)  # (B, F', HW, D)
            got, tail = m.temporal_conv(blk, y, None, torch.zeros(2, 2, 16, 64, dtype=F64))
            yc = y.permute(0, 3, 1, 2)  # (B, D, F', HW)
            z = torch.nn.functional.conv2d(torch.nn.functional.pad(yc, pad), blk.ff.conv_temp.weight)
            torch.testing.assert_close(got, y + z.permute(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(tail, y[:, -2:])

    def test_autograd_reaches_every_parameter(self):
        m = random_model(self.cfg, seed=4)
        latents, cap, mask = (z.float() for z in _inputs(self.cfg, 2, 4))
        t = torch.tensor([[0.0, 0.0, 700.0, 700.0], [0.0, 0.0, 10.0, 10.0]])
        m(latents, t, cap, mask, causal_block_frames=2).square().mean().backward()
        for name, p in m.named_parameters():
            self.assertIsNotNone(p.grad, name)
            self.assertGreater(p.grad.abs().max().item(), 0.0, name)

    def test_save_load_model_round_trip(self):
        m = random_model(self.cfg, seed=9)
        mcfg = config_mod.ModelConfig(transformer=self.cfg, name="t")
        with tempfile.TemporaryDirectory() as d:
            save_model(m, mcfg, d, dtype=torch.bfloat16)
            m2, mcfg2 = load_model(d)
        self.assertEqual(mcfg2.transformer, self.cfg)
        for k, v in m.state_dict().items():
            torch.testing.assert_close(m2.state_dict()[k], v.bfloat16().float(), rtol=0, atol=0)


class SamplerTest(unittest.TestCase):
    def test_sigma_schedule_endpoints(self):
        s = sampler.sigma_schedule(10, 3.0)
        self.assertEqual(len(s), 11)
        self.assertEqual(s[0], 1.0)
        self.assertEqual(s[-1], 0.0)
        self.assertTrue(all(a > b for a, b in zip(s, s[1:])))
        self.assertAlmostEqual(s[5], 3.0 * 0.5 / (1 + 2.0 * 0.5))
        self.assertEqual(sampler.sigma_schedule(4, 1.0), [1.0, 0.75, 0.5, 0.25, 0.0])

    def test_dpm_first_step_equals_euler_first_step(self):
        sig = sampler.sigma_schedule(5, 3.0)
        x, v = torch.randn(3, 4, dtype=F64), torch.randn(3, 4, dtype=F64)
        dpm = sampler.DpmSolver2M(sig).step(0, x, v)
        euler = sampler.euler_step(x, v, sig[0], sig[1])
        torch.testing.assert_close(dpm, euler, rtol=1e-12, atol=1e-12)
        # Closed form: sigma_1 x + alpha_1 (x - v).
        torch.testing.assert_close(dpm, sig[1] * x + (1 - sig[1]) * (x - v), rtol=1e-12, atol=1e-12)

    def test_solvers_are_exact_for_a_point_mass(self):
        """With the exact velocity of a single data point x0, v = (x - x0)/sigma, both solvers land on
        x0 (Euler and DPM++ are exact along that straight path), from any noise."""
        x0 = torch.randn(2, 3, dtype=F64)
        noise = torch.randn(2, 3, dtype=F64)
        for solver in ("euler", "dpm++2m"):
            sig = sampler.sigma_schedule(7, 3.0)
            dpm = sampler.DpmSolver2M(sig)
            x = noise
            for i in range(7):
                v = (x - x0) / sig[i]
                x = sampler.euler_step(x, v, sig[i], sig[i + 1]) if solver == "euler" \
                    else dpm.step(i, x, v)
                if i < 6:  # on the path x = (1 - s) x0 + s * noise at every step
                    torch.testing.assert_close(x, (1 - sig[i + 1]) * x0 + sig[i + 1] * noise)
            torch.testing.assert_close(x, x0, rtol=1e-12, atol=1e-12)

    def test_dpm_second_order_closed_form(self):
        sig = sampler.sigma_schedule(4, 3.0)
        dpm = sampler.DpmSolver2M(sig)
        xs = [torch.randn(5, dtype=F64) for _ in range(3)]
        vs = [torch.randn(5, dtype=F64) for _ in range(3)]
        dpm.step(0, xs[0], vs[0])
        dpm.step(1, xs[1], vs[1])  # sigma_0 = 1: still first order at i = 1
        got = dpm.step(2, xs[2], vs[2])
        lam = lambda s: math.log((1 - s) / s)  # noqa: E731
        h, h_prev = lam(sig[3]) - lam(sig[2]), lam(sig[2]) - lam(sig[1])
        r = h_prev / h
        x0, x0_prev = xs[2] - sig[2] * vs[2], xs[1] - sig[1] * vs[1]
        d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_prev
        want = sig[3] / sig[2] * xs[2] - (1 - sig[3]) * (math.exp(-h) - 1) * d
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)

    def test_cfg_scale_one_is_conditional_only(self):
        cfg = small_config()
        m = random_model(cfg, seed=11, dtype=F64)
        latents, cap, mask = _inputs(cfg, 1, 2)
        neg = torch.randn_like(cap)
        v1 = sampler.cfg_velocity(m, latents, 0.6, cap, mask, neg, mask, 1.0)
        torch.testing.assert_close(v1, m(latents, torch.tensor([600.0], dtype=F64), cap, mask),
                                   rtol=0, atol=0)
        v4 = sampler.cfg_velocity(m, latents, 0.6, cap, mask, neg, mask, 4.0)
        vc = m(latents, torch.tensor([600.0], dtype=F64), cap, mask)
        vu = m(latents, torch.tensor([600.0], dtype=F64), neg, mask)
        torch.testing.assert_close(v4, vu + 4.0 * (vc - vu), rtol=1e-12, atol=1e-12)

    def test_block_ar_equals_teacher_forced_full_clip(self):
        """Block 1 of generate_block_ar equals denoising block 1 in a full-clip block-causal forward
        whose block 0 is held at the generated clean latents with t = 0. cfg = 1: with CFG the
        unconditional branch reuses the conditional state, which no single full-clip forward computes
        (block 0's deeper-layer tokens depend on the caption through cross-attention)."""
        cfg = small_config()
        m = random_model(cfg, seed=13, dtype=F64)
        noise, cap, mask = _inputs(cfg, 1, 4, seed=3)
        neg, nmask = torch.randn_like(cap), torch.ones_like(mask)
        for solver in ("euler", "dpm++2m"):
            out = sampler.generate_block_ar(m, noise, cap, mask, neg, nmask, steps=3, cfg=1.0,
                                            solver=solver, block_frames=2, flow_shift=3.0)
            block0 = sampler.sample(m, noise[:, :, :2], cap, mask, neg, nmask, 3, 1.0, solver, 3.0)
            torch.testing.assert_close(out[:, :, :2], block0, rtol=1e-10, atol=1e-10)
            sig = sampler.sigma_schedule(3, 3.0)
            dpm = sampler.DpmSolver2M(sig)
            x = noise[:, :, 2:]
            for i in range(3):
                t = torch.tensor([[0.0, 0.0, 1000 * sig[i], 1000 * sig[i]]], dtype=F64)
                full = torch.cat([block0, x], dim=2)
                v = m(full, t, cap, mask, causal_block_frames=2)[:, :, 2:]
                x = sampler.euler_step(x, v, sig[i], sig[i + 1]) if solver == "euler" \
                    else dpm.step(i, x, v)
            torch.testing.assert_close(out[:, :, 2:], x, rtol=1e-9, atol=1e-9)

    def test_block_ar_cfg_branches_share_the_conditional_state(self):
        cfg = small_config()
        m = random_model(cfg, seed=17, dtype=F64)
        noise, cap, mask = _inputs(cfg, 1, 4, seed=4)
        neg, nmask = torch.randn_like(cap), torch.ones_like(mask)
        calls = []

        class Recorder(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner, self.cfg = m, m.cfg

            def forward(self, x, t, c, c_mask, **kw):
                calls.append((c is cap, kw.get("state"), kw.get("update_state", False),
                              kw.get("frame_offset", 0), float(t.max())))
                return self.inner(x, t, c, c_mask, **kw)

        sampler.generate_block_ar(Recorder(), noise, cap, mask, neg, nmask, steps=2, cfg=2.0,
                                  solver="euler", block_frames=2, flow_shift=3.0)
        # Block 0: 2 steps x (cond, uncond), 1 clean update; block 1: 2 x (cond, uncond).
        self.assertEqual([(c[0], c[2], c[3]) for c in calls],
                         [(True, False, 0), (False, False, 0)] * 2 + [(True, True, 0)]
                         + [(True, False, 2), (False, False, 2)] * 2)
        self.assertEqual(calls[4][4], 0.0)  # the update pass runs at t = 0
        for cond, uncond in ((calls[5], calls[6]), (calls[7], calls[8])):
            self.assertIs(cond[1], uncond[1])
            self.assertEqual(cond[1].frames, 2)


class DiffusersFlowDpmTest(unittest.TestCase):
    """reel_ref/dpm_flow.py (diffusers' DPMSolverMultistepScheduler with flow sigmas) by closed
    forms: its schedule's ends, first order = Euler, and exactness on a linear flow."""

    def test_schedule(self):
        from reel_ref import dpm_flow
        sigmas, timesteps = dpm_flow.flow_schedule(50, 8.0, 1000)
        self.assertEqual(len(sigmas), 51)
        self.assertEqual(sigmas[-1], 0.0)
        top = 8.0 * 0.999 / (1 + 7.0 * 0.999)  # shift(1 - 1/T): diffusers never starts at sigma 1
        self.assertAlmostEqual(sigmas[0], top, places=6)
        self.assertEqual(timesteps[0], int(top * 1000))
        self.assertTrue(all(a > b for a, b in zip(sigmas, sigmas[1:])))

    def test_first_order_is_euler(self):
        from reel_ref import dpm_flow
        g = torch.Generator().manual_seed(0)
        x = torch.randn(3, 4, generator=g, dtype=F64)
        solver = dpm_flow.FlowDpmSolver(6, 8.0, 1000, solver_order=1)
        s = solver.sigmas_list
        for i in range(6):
            v = torch.randn(3, 4, generator=g, dtype=F64)
            want = x + (s[i + 1] - s[i]) * v
            x = solver.step(i, v, x)
            self.assertLess((x - want).abs().max().item(), 1e-12)

    def test_exact_on_a_straight_flow(self):
        # x_t = (1 - s) x0 + s e with the true velocity e - x0 at every step: any consistent
        # solver lands on x0 exactly, first and second order alike.
        from reel_ref import dpm_flow
        g = torch.Generator().manual_seed(1)
        x0, e = torch.randn(5, generator=g, dtype=F64), torch.randn(5, generator=g, dtype=F64)
        for order in (1, 2):
            solver = dpm_flow.FlowDpmSolver(7, 8.0, 1000, solver_order=order)
            x = (1 - solver.sigmas_list[0]) * x0 + solver.sigmas_list[0] * e
            for i in range(7):
                x = solver.step(i, e - x0, x)
            self.assertLess((x - x0).abs().max().item(), 1e-9)


class SafetensorsTest(unittest.TestCase):
    def test_round_trip_all_dtypes(self):
        tensors = {
            "f32": torch.randn(3, 4), "f16": torch.randn(5).half(),
            "bf16": torch.randn(2, 3).bfloat16(), "i64": torch.tensor([-(2 ** 40), 7]),
            "i32": torch.tensor([[-3, 4]], dtype=torch.int32),
            "u8": torch.tensor([0, 255, 9], dtype=torch.uint8), "scalar": torch.tensor(2.5),
            "empty": torch.zeros(0, 3),
        }
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.safetensors")
            save_file(tensors, path, {"k": "v"})
            got, meta = load_file_with_metadata(path)
            with open(path, "rb") as f:
                raw = f.read()
        self.assertEqual(meta, {"k": "v"})
        self.assertEqual(set(got), set(tensors))
        for k, v in tensors.items():
            self.assertEqual(got[k].dtype, v.dtype, k)
            self.assertTrue(torch.equal(got[k], v), k)
        (n,) = struct.unpack("<Q", raw[:8])
        self.assertEqual((8 + n) % 8, 0)
        header = json.loads(raw[8:8 + n])
        self.assertEqual(header["bf16"]["dtype"], "BF16")
        self.assertEqual(header["bf16"]["shape"], [2, 3])

    def test_reads_a_hand_built_file(self):
        """Bytes written by hand per the format, not by save_file."""
        header = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "b": {"dtype": "BF16", "shape": [1], "data_offsets": [8, 10]}}).encode()
        data = struct.pack("<ff", 1.5, -2.0) + struct.pack("<H", 0x3FC0)  # bf16 1.5
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.safetensors")
            with open(path, "wb") as f:
                f.write(struct.pack("<Q", len(header)) + header + data)
            got, meta = load_file_with_metadata(path)
            self.assertEqual(got["a"].tolist(), [1.5, -2.0])
            self.assertEqual(got["b"].float().tolist(), [1.5])
            self.assertEqual(meta, {})
            with open(path, "wb") as f:  # truncated data must be rejected
                f.write(struct.pack("<Q", len(header)) + header + data[:-1])
            with self.assertRaises(ValueError):
                load_file_with_metadata(path)


class ConfigTest(unittest.TestCase):
    def _json(self):
        return {"name": "x", "transformer": config_mod.ModelConfig(small_config()).to_json()
                ["transformer"], "sampler": {"flow_shift": 3.0, "steps": 20, "cfg_scale": 4.5,
                                             "solver": "dpm++2m"}, "vae": {"anything": 1}}

    def test_round_trip(self):
        j = self._json()
        cfg = config_mod.parse_model_config(j)
        self.assertEqual(cfg.transformer, small_config())
        self.assertEqual(cfg.to_json(), j)
        with tempfile.TemporaryDirectory() as d:
            config_mod.save_config(cfg, d)
            self.assertEqual(config_mod.load_config(d), cfg)

    def test_rejects_unknown_keys_and_bad_values(self):
        bad = []
        j = self._json(); j["transformer"]["hiden_size"] = 64; bad.append(j)  # noqa: E702
        j = self._json(); j["sampler"]["step"] = 3; bad.append(j)  # noqa: E702
        j = self._json(); j["extra"] = {}; bad.append(j)  # noqa: E702
        j = self._json(); del j["transformer"]["hidden_size"]; bad.append(j)  # noqa: E702
        j = self._json(); j["transformer"]["head_dim"] = 16; bad.append(j)  # noqa: E702
        j = self._json(); j["transformer"]["temporal_conv"] = "left"; bad.append(j)  # noqa: E702
        j = self._json(); j["sampler"]["solver"] = "heun"; bad.append(j)  # noqa: E702
        j = self._json(); j["transformer"]["num_layers"] = 2.5; bad.append(j)  # noqa: E702
        j = self._json(); j["transformer"]["patch_size"] = [1, "2", 2]; bad.append(j)  # noqa: E702
        for j in bad:
            with self.assertRaises(config_mod.ConfigError):
                config_mod.parse_model_config(j)


class NoiseTest(unittest.TestCase):
    """The engine's Philox4x32-10 + Box-Muller noise, re-implemented in numpy."""

    def test_philox_known_answers(self):  # Random123's published vectors
        import numpy as np
        cases = [([0, 0, 0, 0], (0, 0), [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
                 ([0xFFFFFFFF] * 4, (0xFFFFFFFF, 0xFFFFFFFF),
                  [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
                 ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], (0xA4093822, 0x299F31D0),
                  [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1])]
        for counter, key, want in cases:
            got = noise.philox4x32(np.array([counter], dtype=np.uint64), key)[0]
            self.assertEqual([int(x) for x in got], want)

    def test_latent_noise_is_normal_and_framewise(self):
        whole = noise.latent_noise(9, 3, 6, 16, 16)
        self.assertAlmostEqual(float(whole.mean()), 0.0, delta=0.06)
        self.assertAlmostEqual(float(whole.var()), 1.0, delta=0.08)
        part = noise.latent_noise(9, 3, 2, 16, 16, first_frame=2)
        self.assertTrue(torch.equal(part, whole[:, :, 2:4]))


if __name__ == "__main__":
    unittest.main()
