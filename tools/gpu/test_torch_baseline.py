"""Checks of the PyTorch GPU baseline that run on the CPU (torch 1.13, tiny shape, ~15 s).

The figures themselves need the GPU; here: the script runs end to end and writes every figure
(positive, finite), the analytic FLOP count equals the matrix products a forward really executes, the
batched CFG step and the chunked long mode equal reel_ref.sampler, and nothing of the model's forward
is built on the host when the model lives elsewhere (the `meta` device stands in for CUDA)."""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import torch
from torch.utils._python_dispatch import TorchDispatchMode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import baseline_model as bm  # noqa: E402
import torch_baseline  # noqa: E402
from dit_flops import dit_forward_flops  # noqa: E402
from reel_ref.dit import BlockState  # noqa: E402

SCRIPT = os.path.join(HERE, "torch_baseline.py")
TINY = ["--device", "cpu", "--shape", "tiny", "--steps-timed", "1", "--threads", "2"]


def tiny_config(**overrides):
    return bm.DitConfig(**dict(bm.SHAPES["tiny"].config, **overrides)).validate()


def tiny_model(seed: int, caption_tokens: int = 9):
    """(model, caption, mask): the tiny model in f32 on the CPU and a 2-row caption batch."""
    cfg = tiny_config()
    model = bm.build_model(cfg, torch.device("cpu"), torch.float32, seed=seed)
    return (model,) + bm.caption_inputs(cfg, caption_tokens, "cpu", torch.float32, seed=seed + 1)


class MatmulFlops(TorchDispatchMode):
    """FLOPs of every matrix product executed under it, from the ATen ops' shapes (2 per
    multiply-add; bias adds not counted): the independent count dit_forward_flops must equal."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name == "mm":
            (m, k), n = args[0].shape, args[1].shape[1]
            self.flops += 2 * m * k * n
        elif name == "addmm":
            (m, k), n = args[1].shape, args[2].shape[1]
            self.flops += 2 * m * k * n
        elif name == "bmm":
            (b, m, k), n = args[0].shape, args[1].shape[2]
            self.flops += 2 * b * m * k * n
        elif name == "convolution":  # weight (C_out, C_in / groups, *kernel)
            self.flops += 2 * out.numel() * math.prod(args[1].shape[1:])
        elif name in ("matmul", "linear", "einsum", "conv2d", "baddbmm"):
            raise AssertionError(f"uncounted matrix op {name}: extend MatmulFlops")
        return out


class RunTest(unittest.TestCase):
    def run_script(self, *extra):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "baseline.json")
            proc = subprocess.run([sys.executable, SCRIPT, *TINY, "--out", out, *extra],
                                  capture_output=True, text=True, timeout=240)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            with open(out) as f:
                return json.load(f), proc.stdout

    def assert_figures(self, section, keys):
        for key in keys:
            self.assertIn(key, section)
            value = section[key]
            self.assertIsInstance(value, (int, float), key)
            self.assertTrue(math.isfinite(value) and value > 0, f"{key} = {value}")

    def test_tiny_cpu_run_writes_every_figure(self):
        r, stdout = self.run_script()
        self.assertEqual(r["skipped"], [])
        self.assertEqual(r["plan"], ["gemm_peak", "bidirectional_480p", "long_480p",
                                     "bidirectional_720p"])
        env = r["environment"]
        self.assertEqual((env["shape"], env["dtype"], env["device"]), ("tiny", "f32", "cpu"))
        self.assertEqual(env["torch_version"], torch.__version__)
        self.assertEqual(env["config"]["hidden_size"], 64)
        self.assert_figures(r["gemm_peak"], ["bf16_tflops_best", "bf16_tflops_median",
                                             "f32_tflops_best", "f32_tflops_median"])
        step = ["ms_per_step_median", "ms_per_step_min", "tflop_per_step", "achieved_tflops",
                "seconds_per_video_50_steps", "fraction_of_gemm_peak", "tokens_per_branch"]
        for case in ("bidirectional_480p", "bidirectional_720p"):
            self.assertNotIn("error", r[case])
            self.assert_figures(r[case], step)
            self.assertTrue(r[case]["velocity_finite"])
            self.assertAlmostEqual(r[case]["seconds_per_video_50_steps"],
                                   50 * r[case]["ms_per_step_median"] / 1e3)
        self.assertEqual(r["bidirectional_480p"]["latent_shape"], [16, 3, 8, 12])
        self.assertEqual(r["bidirectional_480p"]["tokens_per_branch"], 3 * 4 * 6)
        self.assert_figures(r["long_480p"], [
            "ms_per_chunk_median", "ms_per_chunk_min", "tflop_per_chunk", "achieved_tflops",
            "latent_frames_per_second", "video_frames_per_second", "state_mib",
            "fraction_of_gemm_peak"])
        self.assertTrue(r["long_480p"]["latents_finite"])
        self.assertEqual(r["long_480p"]["chunks_timed"], 3)
        self.assertAlmostEqual(r["long_480p"]["video_frames_per_second"],
                               4 * r["long_480p"]["latent_frames_per_second"])
        for case in r["plan"]:
            self.assertIn(case, stdout)  # the human table

    def test_budget_stops_new_measurements_and_still_writes(self):
        r, stdout = self.run_script("--budget-seconds", "0")
        self.assertEqual(r["skipped"], r["plan"])
        self.assertIn("parameters", r["environment"])
        self.assertIn("skipped", stdout)

    def test_a_failing_measurement_is_reported_not_fatal(self):
        oom = RuntimeError("CUDA out of memory. Tried to allocate 4.00 GiB")
        with tempfile.TemporaryDirectory() as tmp, \
                mock.patch.object(torch_baseline, "measure_long", side_effect=oom):
            out = os.path.join(tmp, "b.json")
            torch_baseline.main(TINY + ["--only", "long,bidirectional_480p", "--out", out])
            with open(out) as f:
                r = json.load(f)
        self.assertTrue(r["long_480p"]["error"].startswith("out of memory"), r["long_480p"])
        self.assertGreater(r["bidirectional_480p"]["ms_per_step_median"], 0)

    def test_bad_arguments_are_clear_errors(self):
        proc = subprocess.run([sys.executable, SCRIPT, *TINY, "--only", "bidirectinal"],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown measurement 'bidirectinal'", proc.stderr)
        if not torch.cuda.is_available():
            proc = subprocess.run([sys.executable, SCRIPT, "--device", "cuda"],
                                  capture_output=True, text=True, timeout=120)
            self.assertEqual(proc.returncode, 2)
            self.assertIn("no CUDA device", proc.stderr)


class SameModelTest(unittest.TestCase):
    def test_flop_count_equals_executed_matmuls(self):
        torch.manual_seed(0)
        cfg = tiny_config(num_layers=3)
        model = bm.build_model(cfg, torch.device("cpu"), torch.float32, seed=1)
        L = 11
        caption, mask = bm.caption_inputs(cfg, L, "cpu", torch.float32, seed=2)
        x = torch.randn(2, 16, 3, 8, 12)
        t = torch.full((2,), 500.0, dtype=torch.float64)
        with torch.no_grad(), MatmulFlops() as count:
            model(x, t, caption, mask)
        self.assertEqual(count.flops, dit_forward_flops(cfg, 2, 3, 4, 6, L)["total"])
        # A block-AR call (batch 1, carried state): the same products.
        state = BlockState.zeros(cfg, 1, 4 * 6)
        with torch.no_grad(), MatmulFlops() as count:
            model(x[:1, :, :2], t[:1], caption[:1], mask[:1], frame_offset=3, state=state,
                  update_state=True)
        self.assertEqual(count.flops, dit_forward_flops(cfg, 1, 2, 4, 6, L)["total"])

    def test_sana2b_geometry_matches_the_issue(self):
        cfg = bm.DitConfig(**bm.SHAPES["sana2b"].config).validate()
        self.assertEqual(bm.latent_shape(cfg, 81, 480, 832), (16, 21, 60, 104))
        self.assertEqual(bm.latent_shape(cfg, 81, 720, 1280), (16, 21, 90, 160))
        self.assertEqual(math.prod(bm.token_grid(cfg, (16, 21, 60, 104))), 32760)
        self.assertEqual((cfg.num_heads * cfg.head_dim, cfg.ffn_hidden, cfg.caption_dim),
                         (2240, 6720, 2304))
        flops = dit_forward_flops(cfg, 2, 21, 30, 52, 300)
        # Projections and the FFN dominate; attention over 32760 tokens and 300 keys is ~2%.
        gemm_bound = (flops["self_attention_projections"] + flops["cross_attention_projections"]
                      + flops["ffn"])
        self.assertGreater(gemm_bound, 0.95 * flops["total"])
        self.assertLess(flops["linear_attention"] + flops["cross_attention"], 0.03 * flops["total"])
        # By hand: 184.33 MFLOP per token and layer (18 D^2 + 6 D Hf + 4 D d + 2 D + 4 L D) x 20
        # layers x 65520 tokens = 241.55 T, + depthwise 0.32 T + caption K/V 0.24 T + embeddings.
        self.assertAlmostEqual(flops["total"] / 1e12, 242.15, delta=0.01)  # TFLOP per CFG step

    def test_cfg_step_equals_reference_sampler(self):
        model, caption, mask = tiny_model(seed=3)
        x = torch.randn(1, 16, 3, 8, 12, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            got = bm.CfgStep(model, x, caption, mask, 6.0, 0.9, 0.8)()
            v = bm.sampler.cfg_velocity(model, x, 0.9, caption[:1], mask[:1], caption[1:],
                                        mask[1:], 6.0)
            want = bm.sampler.euler_step(x, v, 0.9, 0.8)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)

    def test_long_video_equals_generate_block_ar(self):
        model, caption, mask = tiny_model(seed=6)
        noise = torch.randn(1, 16, 6, 8, 12, generator=torch.Generator().manual_seed(8))
        with torch.no_grad():
            video = bm.LongVideo(model, caption[:1], mask[:1], 4, 2, 4 * 6)
            got = torch.cat([video.next_chunk(noise[:, :, f:f + 2]) for f in (0, 2, 4)], dim=2)
            want = bm.sampler.generate_block_ar(model, noise, caption[:1], mask[:1], caption[1:],
                                                mask[1:], steps=4, cfg=1.0, solver="euler",
                                                block_frames=2, flow_shift=3.0)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        self.assertEqual(video.state.frames, 6)

    def test_forward_builds_nothing_on_the_host(self):
        # A host tensor mixed with a meta one fails like one mixed with a CUDA tensor...
        with self.assertRaises(RuntimeError):
            torch.ones(3, device="meta") * torch.ones(3)
        # ...so running both paths on meta shows the forward puts everything on the model's device.
        meta = torch.device("meta")
        cfg = tiny_config()
        for dtype in (torch.float32, torch.bfloat16):
            model = bm.build_model(cfg, meta, dtype, seed=0)
            caption, mask = bm.caption_inputs(cfg, 9, meta, dtype, seed=0)
            x = torch.zeros(1, 16, 3, 8, 12, device=meta, dtype=dtype)
            with torch.no_grad():
                v = bm.CfgStep(model, x, caption, mask, 6.0, 0.9, 0.8)()
                video = bm.LongVideo(model, caption[:1], mask[:1], 4, 3, 4 * 6)
                y = video.next_chunk(x)
            self.assertEqual((v.device.type, v.dtype, tuple(v.shape)),
                             ("meta", dtype, (1, 16, 3, 8, 12)))
            self.assertEqual((y.device.type, video.state.layers[0].kv.device.type),
                             ("meta", "meta"))
            with torch.no_grad():  # the reference sampler too
                z = bm.sampler.generate_block_ar(model, x, caption[:1], mask[:1], caption[1:],
                                                 mask[1:], steps=2, cfg=6.0, solver="dpm++2m",
                                                 block_frames=2, flow_shift=3.0)
            self.assertEqual(z.device.type, "meta")

    def test_sana2b_shape_runs_both_paths_on_meta(self):
        # Shapes only (one of the 20 identical layers): the 720p step and a long-mode chunk.
        shape = bm.SHAPES["sana2b"]
        cfg = bm.DitConfig(**dict(shape.config, num_layers=1)).validate()
        meta = torch.device("meta")
        model = bm.build_model(cfg, meta, torch.bfloat16, seed=0)
        caption, mask = bm.caption_inputs(cfg, shape.caption_tokens, meta, torch.bfloat16, seed=0)
        latent = bm.latent_shape(cfg, *shape.bidirectional["bidirectional_720p"])
        x = torch.zeros((1,) + latent, device=meta, dtype=torch.bfloat16)
        chunk = torch.zeros(1, 16, shape.long_chunk_latent_frames, 60, 104, device=meta,
                            dtype=torch.bfloat16)
        with torch.no_grad():
            v = bm.CfgStep(model, x, caption, mask, 6.0, 0.9, 0.8)()
            video = bm.LongVideo(model, caption[:1], mask[:1], 4, 10, 30 * 52)
            video.next_chunk(chunk)
            y = video.next_chunk(chunk)
        self.assertEqual(tuple(v.shape), (1, 16, 21, 90, 160))
        self.assertEqual((tuple(y.shape), video.state.frames), ((1, 16, 10, 60, 104), 20))
        self.assertEqual(tuple(video.state.layers[0].conv_tail.shape), (1, 2, 1560, 2240))


if __name__ == "__main__":
    unittest.main()
