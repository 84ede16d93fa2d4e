"""The `softmax` and `sparse_linear` attention kinds of the reference against independent oracles.

    /usr/bin/python3 -m unittest discover -s tools/reference -p 'test_*.py'
"""
import math
import sys
import os
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref import exact_attention as ea  # noqa: E402
from reel_ref.dit import BlockState, DiT  # noqa: E402
from reel_ref.testing import random_model, randomize, small_config  # noqa: E402

F64 = torch.float64


def _inputs(cfg, frames, seed=3):
    g = torch.Generator().manual_seed(seed)
    lat = torch.randn(1, cfg.in_channels, frames, 8, 8, generator=g, dtype=F64)
    cap = torch.randn(1, 5, cfg.caption_dim, generator=g, dtype=F64)
    return lat, cap, torch.tensor([[1, 1, 1, 1, 0]])


def _oracle_window_attention(q, k, v, topk, tq, tk):
    """Token-by-token: pooled scores with explicit loops, top-n by sorting, masked softmax."""
    nq, nk, d = q.shape[0], k.shape[0], q.shape[1]
    ks = k - k.mean(dim=0)
    qt = [list(range(s, min(s + tq, nq))) for s in range(0, nq, tq)]
    kt = [list(range(s, min(s + tk, nk))) for s in range(0, nk, tk)]
    out = torch.zeros(nq, d, dtype=q.dtype)
    for rows in qt:
        if topk is None:
            keep = list(range(nk))
        else:
            pq = sum(q[i] for i in rows) / len(rows)
            scores = [float(pq @ (sum(ks[j] for j in cols) / len(cols))) for cols in kt]
            n = max(1, min(len(kt), int(math.floor(topk * len(kt) + 1e-6))))
            best = sorted(range(len(kt)), key=lambda t: -scores[t])[:n]
            keep = sorted(j for t in best for j in kt[t])
        for i in rows:
            s = torch.stack([q[i] @ k[j] for j in keep]) / math.sqrt(d)
            out[i] = torch.softmax(s, dim=0) @ v[keep]
    return out


class WindowAttentionTest(unittest.TestCase):
    def test_tile_selection_and_softmax_against_loops(self):
        g = torch.Generator().manual_seed(0)
        for nq, nk, tq, tk, topk in ((32, 96, 8, 8, 0.25), (20, 45, 8, 16, 0.5),
                                     (7, 33, 4, 10, 0.01), (16, 16, 4, 4, 1.0)):
            q, k, v = (torch.randn(n, 12, generator=g, dtype=F64) for n in (nq, nk, nk))
            got = ea.window_attention(q[None, None], k[None, None], v[None, None], topk, tq, tk,
                                      None)[0, 0]
            torch.testing.assert_close(got, _oracle_window_attention(q, k, v, topk, tq, tk),
                                       rtol=1e-12, atol=1e-12)

    def test_topk_one_is_dense_softmax_and_selection_invariances(self):
        g = torch.Generator().manual_seed(1)
        q, k, v = (torch.randn(1, 2, 40, 8, generator=g, dtype=F64) for _ in range(3))
        dense = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1) @ v
        torch.testing.assert_close(ea.window_attention(q, k, v, 1.0, 8, 8, None), dense)
        base = ea.tile_map(q, k, 0.3, 8, 8)
        self.assertTrue(torch.equal(base, ea.tile_map(q, k + torch.randn(8, dtype=F64), 0.3, 8, 8)))
        self.assertTrue(torch.equal(base, ea.tile_map(3.5 * q, k, 0.3, 8, 8)))
        self.assertTrue((base.sum(-1) == ea.selected_tiles(0.3, 5)).all())

    def test_effective_tile_divides_the_block(self):
        self.assertEqual(ea.effective_tile(64, 64), 64)
        self.assertEqual(ea.effective_tile(16, 100), 10)
        self.assertEqual(ea.effective_tile(64, 32), 32)
        self.assertEqual(ea.effective_tile(64, None), 64)


class AttentionKindsTest(unittest.TestCase):
    def _model(self, **kw):
        cfg = small_config(**kw)
        return random_model(cfg, seed=5, dtype=F64), cfg

    def test_sparse_linear_with_zero_projection_is_the_linear_model(self):
        lin, _ = self._model()
        sla, cfg = self._model(attention="sparse_linear", sla_topk=0.5, sla_tile_q=8, sla_tile_k=8)
        sd = dict(lin.state_dict())
        for i in range(cfg.num_layers):
            sd[f"transformer_blocks.{i}.attn1.proj_s.weight"] = torch.zeros(64, 64, dtype=F64)
            sd[f"transformer_blocks.{i}.attn1.proj_s.bias"] = torch.zeros(64, dtype=F64)
        sla.load_state_dict(sd)
        lat, cap, mask = _inputs(cfg, 4)
        t = torch.tensor([600.0], dtype=F64)
        for bf in (None, 2):
            torch.testing.assert_close(sla(lat, t, cap, mask, causal_block_frames=bf),
                                       lin(lat, t, cap, mask, causal_block_frames=bf),
                                       rtol=0, atol=0)
        # A non-zero projection must matter.
        randomize(sla, 9)
        self.assertGreater((sla(lat, t, cap, mask) - lin(lat, t, cap, mask)).abs().max(), 1e-3)

    def test_window_zero_sparse_linear_is_pure_linear(self):
        sla, cfg = self._model(attention="sparse_linear", attention_window=0)
        lin = DiT(small_config()).to(F64)
        lin.load_state_dict({k: v for k, v in sla.state_dict().items() if "proj_s" not in k})
        lat, cap, mask = _inputs(cfg, 4)
        t = torch.tensor([250.0], dtype=F64)
        torch.testing.assert_close(sla(lat, t, cap, mask, causal_block_frames=2),
                                   lin(lat, t, cap, mask, causal_block_frames=2), rtol=0, atol=0)

    def test_block_ar_with_window_equals_full_block_causal_forward(self):
        """Block by block with the kept window == one block-causal forward, for both kinds, several
        windows, and tiles that do not divide the block (32 tokens, tile 12 -> 8)."""
        for kind, window, topk in (("softmax", 0, 0.1), ("softmax", 2, 0.1),
                                   ("sparse_linear", 1, 0.3), ("sparse_linear", 2, 0.3),
                                   ("sparse_linear", 3, 0.6)):
            m, cfg = self._model(attention=kind, attention_window=window, sla_topk=topk,
                                 sla_tile_q=12, sla_tile_k=8)
            randomize(m, 11)  # proj_s non-zero
            lat, cap, mask = _inputs(cfg, 8)
            t = torch.tensor([[0.0] * 6 + [700.0] * 2], dtype=F64)
            full = m(lat, t, cap, mask, causal_block_frames=2)
            state = BlockState.zeros(cfg, 1, 16, F64)
            for f0 in range(0, 6, 2):
                _, state = m(lat[:, :, f0:f0 + 2], torch.tensor([0.0], dtype=F64), cap, mask,
                             frame_offset=f0, state=state, update_state=True)
                kept = state.layers[0].win_k.shape[2]
                want = (f0 + 2) * 16 if window == 0 else min(f0 + 2, 2 * (window - 1)) * 16
                self.assertEqual(kept, want, (kind, window, f0))
            last = m(lat[:, :, 6:8], torch.tensor([700.0], dtype=F64), cap, mask, frame_offset=6,
                     state=state)
            torch.testing.assert_close(last, full[:, :, 6:8], rtol=1e-10, atol=1e-10,
                                       msg=f"{kind} window {window}")

    def test_window_bounds_what_a_block_sees(self):
        """With window W, changing a block more than W - 1 blocks back reaches the current block
        only through the linear state (sparse_linear) or not at all (softmax)."""
        m, cfg = self._model(attention="softmax", attention_window=2)
        lat, cap, mask = _inputs(cfg, 6)
        t = torch.tensor([500.0], dtype=F64)
        changed = lat.clone()
        changed[:, :, 0:2] += 1.0
        # Layer-0 attention only: block 2 (frames 4-5) must not see block 0 (window 2 = blocks 1, 2).
        blk = m.transformer_blocks[0]
        grid = m.grid_of(lat)
        n1, n2 = m.embed_patches(lat), m.embed_patches(changed)
        o1, _, _ = m.exact_branch(blk, n1, grid, 2, None)
        o2, _, _ = m.exact_branch(blk, n2, grid, 2, None)
        torch.testing.assert_close(o1[:, 64:], o2[:, 64:], rtol=0, atol=0)
        self.assertGreater((o1[:, 32:64] - o2[:, 32:64]).abs().max(), 1e-6)


if __name__ == "__main__":
    unittest.main()
