"""Checks of reel_ref.wan_vae (the C++ Wan decoder's oracle) against closed forms and published
figures: parameter counts of the released Wan2.1 VAE, causal padding, the norm, the attention, the
up-sampling, the frame count and the first-chunk rule."""
import math
import os
import sys
import tempfile
import unittest

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref import load_file  # noqa: E402
from reel_ref import wan_vae  # noqa: E402


class WanVaeReferenceTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)

    def test_released_config_has_the_published_parameter_counts(self):
        # 126,892,531 parameters in 194 tensors; the decoder half (decoder.* + post_quant_conv.*)
        # 73,295,603: the figures of the released diffusers checkpoint's safetensors header.
        sd = wan_vae.AutoencoderKLWanRef(wan_vae.wan21_config()).state_dict()
        params = {k: v for k, v in sd.items() if k not in ("mean", "std")}
        self.assertEqual(len(params), 194)
        self.assertEqual(sum(v.numel() for v in params.values()), 126892531)
        decoder = sum(v.numel() for k, v in params.items()
                      if k.startswith(("decoder.", "post_quant_conv.")))
        self.assertEqual(decoder, 73295603)
        shapes = {  # names from diffusers' converter (original Wan key -> diffusers key)
            "decoder.up_blocks.0.upsamplers.0.time_conv.weight": (768, 384, 3, 1, 1),
            "decoder.up_blocks.1.resnets.0.conv_shortcut.bias": (384,),
            "decoder.up_blocks.2.upsamplers.0.resample.1.bias": (96,),
            "decoder.up_blocks.3.resnets.2.conv2.weight": (96, 96, 3, 3, 3),
            "decoder.mid_block.attentions.0.norm.gamma": (384, 1, 1),
            "decoder.norm_out.gamma": (96, 1, 1, 1),
            "encoder.down_blocks.8.resample.1.weight": (384, 384, 3, 3),
            "encoder.down_blocks.3.conv_shortcut.weight": (192, 96, 1, 1, 1),
            "quant_conv.weight": (32, 32, 1, 1, 1),
        }
        for name, shape in shapes.items():
            self.assertEqual(tuple(params[name].shape), shape, name)

    def test_causal_conv_pads_only_the_past(self):
        conv = wan_vae.CausalConv3d(3, 4, 3, padding=1).double()
        x = torch.randn(1, 3, 5, 6, 7, dtype=torch.float64)
        history = torch.randn(1, 3, 2, 6, 7, dtype=torch.float64)
        want = F.conv3d(F.pad(torch.cat([history, x], 2), (1, 1, 1, 1, 0, 0)), conv.weight,
                        conv.bias)
        self.assertLess((conv(x, history) - want).abs().max().item(), 1e-12)
        zeros = torch.zeros_like(history)
        self.assertLess((conv(x) - conv(x, zeros)).abs().max().item(), 1e-12)
        # one history frame: the missing one is a zero frame before it
        one = history[:, :, 1:]
        self.assertLess((conv(x, one) - conv(x, torch.cat([zeros[:, :, :1], one], 2))).abs().max(),
                        1e-12)

    def test_norm_is_rms_over_channels_times_gamma(self):
        norm = wan_vae.RMSNorm(5).double()
        with torch.no_grad():
            norm.gamma.copy_(torch.linspace(0.5, 1.5, 5).view(5, 1, 1, 1))
        x = torch.randn(2, 5, 3, 4, 4, dtype=torch.float64)
        want = x / x.pow(2).mean(dim=1, keepdim=True).sqrt() * norm.gamma
        self.assertLess((norm(x) - want).abs().max().item(), 1e-12)
        self.assertEqual(norm(torch.zeros_like(x)).abs().max().item(), 0.0)  # 1e-12 floor: no NaN

    def test_attention_with_constant_keys_averages_the_values(self):
        # k = 0 makes every score equal: each pixel gets the mean of v over its frame only.
        block = wan_vae.AttentionBlock(4).double()
        with torch.no_grad():
            block.to_qkv.weight[4:8].zero_()
            block.to_qkv.bias[4:8].zero_()
        x = torch.randn(1, 4, 3, 5, 6, dtype=torch.float64)
        frames = x.permute(0, 2, 1, 3, 4).reshape(3, 4, 5, 6)
        v = F.conv2d(block.norm(frames), block.to_qkv.weight[8:], block.to_qkv.bias[8:])
        mean_v = v.mean(dim=(2, 3), keepdim=True).expand_as(v)
        want = x + block.proj(mean_v).reshape(1, 3, 4, 5, 6).permute(0, 2, 1, 3, 4)
        self.assertLess((block(x) - want).abs().max().item(), 1e-12)

    def test_space_upsampling_is_nearest_exact(self):
        r = wan_vae.Resample(4, "upsample2d").double()
        x = torch.randn(1, 4, 2, 3, 5, dtype=torch.float64)
        frames = x.permute(0, 2, 1, 3, 4).reshape(2, 4, 3, 5)
        up = F.interpolate(frames, scale_factor=2.0, mode="nearest-exact")
        want = r.resample[1](up).reshape(1, 2, 2, 6, 10).permute(0, 2, 1, 3, 4)
        self.assertLess((r(x, [], [0]) - want).abs().max().item(), 1e-12)

    def test_frame_counts_and_first_chunk_rule(self):
        for config, factor in ((wan_vae.small_config(), 4),
                               (wan_vae.small_config(temperal_downsample=[False, False, True],
                                                     scale_factor_temporal=2), 2)):
            model = wan_vae.random_vae(config, seed=1).double()
            for n in (1, 2, 3):
                z = torch.randn(1, 4, n, 2, 3, dtype=torch.float64)
                out = model.decode(z)
                self.assertEqual(tuple(out.shape), (1, 3, 1 + factor * (n - 1), 16, 24))
                self.assertLessEqual(out.abs().max().item(), 1.0)
        # Latent frame 0 alone decodes the same whether or not frames follow (causality), and
        # frame 1's pixels depend on frame 0 (the caches carry it).
        model = wan_vae.random_vae(wan_vae.small_config(), seed=2).double()
        z = torch.randn(1, 4, 2, 2, 3, dtype=torch.float64)
        both = model.decode(z, clamp=False)
        first = model.decode(z[:, :, :1], clamp=False)
        self.assertLess((both[:, :, :1] - first).abs().max().item(), 1e-12)
        z2 = z.clone()
        z2[:, :, 0] += 1.0
        self.assertGreater((model.decode(z2, clamp=False)[:, :, 1:] - both[:, :, 1:]).abs().max(),
                           1e-6)

    def test_written_directory_has_the_official_names(self):
        with tempfile.TemporaryDirectory() as d:
            model = wan_vae.write_random_vae_dir(d, seed=3)
            tensors = load_file(os.path.join(d, "diffusion_pytorch_model.safetensors"))
            self.assertEqual(set(tensors), set(model.state_dict()) - {"mean", "std"})
            self.assertTrue(all(t.dtype == torch.float32 for t in tensors.values()))
            self.assertTrue(os.path.exists(os.path.join(d, "config.json")))
        self.assertTrue(math.isclose(wan_vae.WAN21_STD[15], 1.916))


if __name__ == "__main__":
    unittest.main()
