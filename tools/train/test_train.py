"""Quick checks of the trainer's references (~5 s): /usr/bin/python3 -m unittest tools/train/test_train.py"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from reel_ref import DitConfig, DiT  # noqa: E402
from reel_train import data, fast_dit  # noqa: E402
from reel_train.text_encoder import BOS, PAD, UNK, TextEncoder, Tokenizer  # noqa: E402
from reel_train.vae import VideoVAE  # noqa: E402


class DataTest(unittest.TestCase):
    def test_deterministic_and_heldout_excluded(self):
        a = data.dataset(3, 20)
        b = data.dataset(3, 20)
        for x, y in zip(a, b):
            self.assertEqual(x.caption, y.caption)
            np.testing.assert_array_equal(x.video, y.video)
        for c in data.dataset(4, 300):
            for o in c.objects:
                self.assertNotIn((o.color, o.shape, o.motion), data.HELD_OUT)
        for c in data.dataset(5, 20, split="heldout"):
            o = c.objects[0]
            self.assertIn((o.color, o.shape, o.motion), data.HELD_OUT)

    def test_translation_does_not_bounce_in_16_frames(self):
        for c in data.dataset(6, 100):
            for o in c.objects:
                xs = [p[0] for p in o.track(16)]
                steps = np.diff(xs)
                if o.motion in ("right", "left"):
                    self.assertTrue(np.all(np.sign(steps) == np.sign(steps[0])), c.caption)


class TokenizerTest(unittest.TestCase):
    def test_encode(self):
        tok = Tokenizer.build(8)
        ids, mask = tok.encode("A red, CIRCLE!! zebra moving-right")
        words = ["red", "circle"]
        self.assertEqual(ids[0], BOS)
        self.assertEqual(ids[1], tok.vocab.index("a"))
        self.assertEqual(ids[2:4], [tok.vocab.index(w) for w in words])
        self.assertEqual(ids[4], UNK)
        self.assertEqual(ids[5:7], [tok.vocab.index("moving"), tok.vocab.index("right")])
        self.assertEqual((ids[7], mask), (PAD, [1] * 7 + [0]))
        self.assertEqual(tok.encode(""), ([BOS] + [PAD] * 7, [1] + [0] * 7))

    def test_padding_does_not_change_valid_rows(self):
        torch.manual_seed(0)
        tok = Tokenizer.build(12)
        te = TextEncoder(len(tok.vocab), 32, 2, 4, 64, 12).eval()
        ids, mask = tok.batch(["a red circle"])
        ids2 = ids.clone()
        ids2[0, 6:] = 5  # garbage in padded positions must not leak into valid rows
        with torch.no_grad():
            a, b = te(ids, mask), te(ids2, mask)
        torch.testing.assert_close(a[0, :4], b[0, :4])


class VaeTest(unittest.TestCase):
    def test_streaming_equals_full_decode_and_is_causal(self):
        torch.manual_seed(0)
        vae = VideoVAE().eval()
        z = torch.randn(1, 8, 4, 6, 6)
        with torch.no_grad():
            full = vae.decode(z)
            self.assertEqual(tuple(full.shape), (1, 3, 16, 24, 24))
            torch.testing.assert_close(vae.decode_streaming(z, 1), full, atol=1e-5, rtol=0)
            z2 = z.clone()
            z2[:, :, 2:] = 0
            torch.testing.assert_close(vae.decode(z2)[:, :, :8], full[:, :, :8], atol=1e-6, rtol=0)


class FastDitTest(unittest.TestCase):
    def test_matches_reference_forward(self):
        torch.manual_seed(0)
        cfg = DitConfig(in_channels=8, out_channels=8, patch_size=[1, 2, 2], hidden_size=48,
                        num_layers=2, num_heads=2, head_dim=24, cross_num_heads=2, cross_head_dim=24,
                        caption_dim=16, ffn_hidden=64, block_frames=1)
        m = DiT(cfg)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.2 * torch.randn_like(p))
        self.assertLess(fast_dit.check(m, frames=4, block_frames=1), 1e-12)
        self.assertLess(fast_dit.check(m, frames=4, block_frames=2), 1e-12)
        # Teacher forcing: every noisy frame sees exactly the clean context of block-AR generation.
        self.assertLess(fast_dit.check_teacher_forced(m, frames=4), 1e-12)


class TeacherForcedStepTest(unittest.TestCase):
    """train_dit.teacher_forced_loss with the DiT forward replaced by a recording stand-in."""

    def run_step(self, frames, fake_forward, **options):
        """One step on 5 random clips of `frames` latent frames; options override the args."""
        import argparse
        from unittest import mock
        import train_dit
        tok = Tokenizer.build(8)
        te = TextEncoder(len(tok.vocab), dim=16, layers=1, heads=2, mlp=16, max_tokens=8)
        meta = [("black", [("red", "circle", "right")])] * 5
        self.norm_lat = torch.randn(5, 8, frames, 4, 4)
        args = argparse.Namespace(**dict(dict(batch=2, flow_shift=3.0, short_prob=0.0,
                                              short_frames=2, self_context=0.0), **options))
        with mock.patch.object(fast_dit, "forward_teacher_forced", fake_forward):
            return train_dit.teacher_forced_loss(args, np.random.default_rng(0),
                                                 torch.Generator().manual_seed(0), None, te, tok,
                                                 self.norm_lat, meta)

    def test_short_steps_trade_frames_for_clips(self):
        """--short-prob: the step's forward sees the first --short-frames latent frames of
        batch x frames / short-frames clips; without it, whole clips of the batch size."""
        seen = []

        def fake_forward(model, clean, noisy, t, caption, mask):
            seen.append((tuple(noisy.shape), tuple(t.shape), caption.shape[0]))
            return torch.zeros_like(noisy)

        for prob, want in ((1.0, (8, 8, 2, 4, 4)), (0.0, (2, 8, 8, 4, 4))):
            seen.clear()
            loss = self.run_step(8, fake_forward, short_prob=prob)
            self.assertEqual(seen, [(want, want[:1] + want[2:3], want[0])])
            self.assertTrue(torch.isfinite(loss))

    def test_self_context_is_the_models_own_estimate(self):
        """--self-context: a forward without gradients estimates every clean frame from the ground
        truth noised within --self-context-sigma, and the trained forward takes that estimate,
        x_t - sigma v, as its context; the targets stay the ground truth."""
        calls = []

        def fake_forward(model, clean, noisy, t, caption, mask):
            calls.append((torch.is_grad_enabled(), clean, noisy, t))
            return 0.5 * noisy + 1.0

        loss = self.run_step(3, fake_forward, batch=3, self_context=1.0,
                             self_context_sigma=(0.2, 0.6))
        self.assertEqual(len(calls), 2)
        (grad0, clean0, xt, t0), (grad1, clean1, _, _) = calls
        self.assertFalse(grad0)
        self.assertTrue(grad1)
        # The estimating forward sees ground-truth clips as context, at sigma in the range.
        for clip in clean0:
            self.assertTrue(any(torch.equal(clip, c) for c in self.norm_lat))
        self.assertTrue(((t0 >= 200) & (t0 <= 600)).all())
        s = (t0 / 1000)[:, None, :, None, None]
        torch.testing.assert_close(clean1, xt - s * (0.5 * xt + 1.0))
        self.assertFalse(torch.equal(clean1, clean0))
        self.assertTrue(torch.isfinite(loss))


class ScriptsTest(unittest.TestCase):
    """The training entry points still run end to end (a few steps, tiny data): continue from the
    shipped model, export, and load the export with the reference."""

    MODEL = os.path.join(HERE, "..", "..", "models", "reel-tiny")

    @unittest.skipUnless(os.path.exists(os.path.join(MODEL, "transformer.safetensors")),
                         "models/reel-tiny has no weights in this checkout")
    def test_continue_export_and_load(self):
        from reel_ref import load_config, load_model
        with tempfile.TemporaryDirectory() as tmp:
            run = [sys.executable, os.path.join(HERE, "train_dit.py"), "--init", self.MODEL,
                   "--out", tmp, "--clips", "8", "--frames", "8", "--steps", "3", "--batch", "2",
                   "--threads", "1"]
            out = subprocess.run(run, capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("initialized text_encoder, transformer from", out.stdout)
            self.assertIn("done step 3", out.stdout)
            ck = torch.load(os.path.join(tmp, "ckpt.pt"))
            self.assertTrue(np.isfinite(ck["avg_loss"]))
            # The shipped model's latent statistics are kept (its DiT was trained with them).
            shipped = load_config(self.MODEL).other["vae"]
            self.assertEqual([round(float(x), 6) for x in ck["latents_mean"]], shipped["latents_mean"])
            vae_pt = os.path.join(tmp, "vae.pt")
            from reel_ref import load_file
            torch.save({k: v.float() for k, v in
                        load_file(os.path.join(self.MODEL, "vae.safetensors")).items()}, vae_pt)
            exported = os.path.join(tmp, "model")
            out = subprocess.run([sys.executable, os.path.join(HERE, "export.py"), "--vae", vae_pt,
                                  "--dit", os.path.join(tmp, "ckpt.pt"), "--out", exported],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(json.loads(out.stdout)["step"], 3)
            dit, cfg = load_model(exported)
            self.assertEqual(cfg.transformer.hidden_size,
                             load_config(self.MODEL).transformer.hidden_size)
            # With --vae as well (a new VAE), the statistics come from that VAE's latents; this also
            # runs the older one-target-frame scheme.
            retrain = os.path.join(tmp, "newvae")
            run = run[:5] + [retrain] + run[6:] + ["--vae", vae_pt, "--scheme", "prefix"]
            out = subprocess.run(run, capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("done step 3", out.stdout)
            ck = torch.load(os.path.join(retrain, "ckpt.pt"))
            self.assertNotEqual([round(float(x), 6) for x in ck["latents_mean"]],
                                shipped["latents_mean"])


    @unittest.skipUnless(os.path.exists(os.path.join(MODEL, "transformer.safetensors")),
                         "models/reel-tiny has no weights in this checkout")
    def test_fresh_dit_light_checkpoint_and_export(self):
        """A new DiT size next to the shipped text encoder; the light checkpoint (what a device
        machine sends back) exports to the same weights as the full one."""
        from reel_ref import load_file, load_model
        from reel_train import checkpoint
        with tempfile.TemporaryDirectory() as tmp:
            run = [sys.executable, os.path.join(HERE, "train_dit.py"), "--init", self.MODEL,
                   "--out", tmp, "--clips", "6", "--frames", "8", "--steps", "2", "--batch", "2",
                   "--threads", "1", "--workers", "2", "--hidden-size", "64", "--layers", "1"]
            out = subprocess.run(run, capture_output=True, text=True)
            self.assertNotEqual(out.returncode, 0)  # the shipped DiT has another size
            self.assertIn("--fresh-dit", out.stderr)
            light = os.path.join(tmp, "light")
            out = subprocess.run(run + ["--fresh-dit", "--light-ckpt", light], capture_output=True,
                                 text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("initialized text_encoder from", out.stdout)
            full = torch.load(os.path.join(tmp, "ckpt.pt"))
            exported = os.path.join(tmp, "model")
            out = subprocess.run([sys.executable, os.path.join(HERE, "export.py"), "--vae",
                                  os.path.join(self.MODEL, "vae.safetensors"), "--dit", light,
                                  "--out", exported, "--dtype", "f32"], capture_output=True,
                                 text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            _, cfg = load_model(exported)
            self.assertEqual((cfg.transformer.hidden_size, cfg.transformer.num_layers), (64, 1))
            weights = load_file(os.path.join(exported, "transformer.safetensors"))
            self.assertEqual(weights.keys(), full["ema_dit"].keys())
            for k, v in full["ema_dit"].items():
                torch.testing.assert_close(weights[k], v, rtol=0, atol=0)
            # A set torn by a kill mid-save (shard from another step) is refused.
            shard = torch.load(os.path.join(light, "ema_dit.0.pt"))
            shard["step"] += 1
            torch.save(shard, os.path.join(light, "ema_dit.0.pt"))
            with self.assertRaisesRegex(ValueError, "interrupted"):
                checkpoint.load_light(light)

    @unittest.skipUnless(os.path.exists(os.path.join(MODEL, "transformer.safetensors")),
                         "models/reel-tiny has no weights in this checkout")
    def test_context_gap(self):
        """context_gap.py on the shipped model: latent frame 0 has no context, so its loss is the
        same with either context (exactly: same noise, same forward); later frames differ."""
        out = subprocess.run([sys.executable, os.path.join(HERE, "context_gap.py"), "--model",
                              self.MODEL, "--count", "2", "--frames", "16", "--batch", "2"],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        r = json.loads(out.stdout)
        gt, own = r["ground_truth"]["by_quarter_of_clip"], r["own_estimate"]["by_quarter_of_clip"]
        self.assertEqual(len(gt), 4)  # 16 frames = 4 latent frames, one per quarter
        self.assertEqual(gt[0], own[0])
        self.assertNotEqual(gt[1:], own[1:])
        self.assertGreater(r["ratio"], 0)

    @unittest.skipUnless(os.path.exists(os.path.join(MODEL, "vae.safetensors")),
                         "models/reel-tiny has no weights in this checkout")
    def test_decoder_fine_tune_replaces_only_the_vae(self):
        """export.py without --dit: a fine-tuned decoder goes into a model directory, nothing else
        changes; a VAE with another encoder (other latents than the DiT learned) is refused."""
        import shutil
        from reel_ref import load_file
        with tempfile.TemporaryDirectory() as tmp:
            model = os.path.join(tmp, "model")
            shutil.copytree(self.MODEL, model)
            before = {f: open(os.path.join(model, f), "rb").read() for f in os.listdir(model)}
            shipped = {k: v.float() for k, v in
                       load_file(os.path.join(self.MODEL, "vae.safetensors")).items()}
            tuned = dict(shipped, **{"decoder.conv_out.bias": shipped["decoder.conv_out.bias"] + 0.5})
            tuned_pt = os.path.join(tmp, "tuned.pt")
            torch.save(tuned, tuned_pt)
            export = [sys.executable, os.path.join(HERE, "export.py"), "--vae", tuned_pt, "--out",
                      model]
            out = subprocess.run(export, capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            for f, data_bytes in before.items():
                if f != "vae.safetensors":
                    self.assertEqual(open(os.path.join(model, f), "rb").read(), data_bytes, f)
            written = load_file(os.path.join(model, "vae.safetensors"))
            self.assertEqual(written.keys(), tuned.keys())
            for k, v in tuned.items():
                torch.testing.assert_close(written[k].float(), v.half().float(), rtol=0, atol=0)
            other = dict(shipped, **{"encoder.conv_in.bias": shipped["encoder.conv_in.bias"] + 0.5})
            torch.save(other, tuned_pt)
            out = subprocess.run(export, capture_output=True, text=True)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("another encoder", out.stderr)
            self.assertIn("encoder.conv_in.bias", out.stderr)


if __name__ == "__main__":
    unittest.main()
