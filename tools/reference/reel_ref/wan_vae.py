"""The Wan2.1 causal video VAE (diffusers AutoencoderKLWan), written from its published definition
for the C++ decoder's tests (pipeline/model/WAN_VAE.md).

Parameter names are diffusers' (post_quant_conv.*, decoder.*, encoder.*, quant_conv.*), so
`state_dict()` is a checkpoint the C++ WeightStore and diffusers both load. Only the decoder runs;
the encoder is built for its parameter names and shapes (a realistic directory), never run.

Decoding follows diffusers' `_decode`: de-normalize (z·std + mean), the 1x1x1 post_quant_conv, then
the decoder one latent frame per call with a feature cache: every causal conv with a temporal kernel
of 3 keeps the last 2 frames of its input (None before the first call = zero padding), and each
`upsample3d` time conv is skipped on the first call (the cache sentinel "Rep"), then runs with zero
padding on the second and with its cache after. So latent frame 0 yields 1 frame, every later one
2^(number of time up-samplers).
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from .safetensors_io import save_file

CACHE_T = 2  # frames each causal conv keeps of its input

# The AutoencoderKLWan config fields (diffusers __init__ defaults) of the released Wan2.1 VAE.
WAN21_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715,
              0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
WAN21_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652,
             1.5579, 1.6382, 1.1253, 2.8251, 1.9160]


def wan21_config() -> dict:
    """vae/config.json of the released Wan2.1 VAE (SANA-Video 480p)."""
    return {
        "_class_name": "AutoencoderKLWan", "_diffusers_version": "0.35.0", "attn_scales": [],
        "base_dim": 96, "dim_mult": [1, 2, 4, 4], "dropout": 0.0, "latents_mean": WAN21_MEAN,
        "latents_std": WAN21_STD, "num_res_blocks": 2, "temperal_downsample": [False, True, True],
        "z_dim": 16,
    }


def small_config(**overrides) -> dict:
    """A tiny config with the same structure: channel changes (shortcuts) in up blocks 1 and 2,
    two time up-samplers, three space up-samplers."""
    z = overrides.get("z_dim", 4)
    cfg = {
        "_class_name": "AutoencoderKLWan", "_diffusers_version": "0.35.0", "attn_scales": [],
        "base_dim": 8, "decoder_base_dim": None, "dim_mult": [1, 2, 2, 2], "dropout": 0.0,
        "is_residual": False, "in_channels": 3, "out_channels": 3, "patch_size": None,
        "scale_factor_spatial": 8, "scale_factor_temporal": 4,
        "latents_mean": [round(0.3 * math.sin(1.7 * c + 0.4), 4) for c in range(z)],
        "latents_std": [round(1.0 + 0.5 * abs(math.cos(0.9 * c)), 4) for c in range(z)],
        "num_res_blocks": 1, "temperal_downsample": [False, True, True], "z_dim": z,
    }
    cfg.update(overrides)
    return cfg


class CausalConv3d(nn.Conv3d):
    """Conv3d with stride 1, symmetric zero padding in space and 2·pad_t frames of padding in time
    only before the input: the given `history` frames, zeros for whatever of 2·pad_t they miss."""

    def __init__(self, cin, cout, kernel, padding=0):
        k = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
        p = (padding,) * 3 if isinstance(padding, int) else tuple(padding)
        super().__init__(cin, cout, k, padding=0)
        self.pad_t, self.pad_h, self.pad_w = 2 * p[0], p[1], p[2]

    def forward(self, x, history=None):
        front = self.pad_t
        if history is not None and front > 0:
            x = torch.cat([history, x], dim=2)
            front -= history.shape[2]
        x = F.pad(x, (self.pad_w, self.pad_w, self.pad_h, self.pad_h, front, 0))
        return super().forward(x)


def cached(conv, x, cache, idx):
    """Runs `conv` on x with cache[idx] as its history, then stores the last CACHE_T frames of its
    input (topped up with the previous history's last frame when x is a single frame)."""
    prev = cache[idx]
    keep = x[:, :, -CACHE_T:].clone()
    if keep.shape[2] < CACHE_T and prev is not None:
        keep = torch.cat([prev[:, :, -1:], keep], dim=2)
    out = conv(x, prev)
    cache[idx] = keep
    return out


class RMSNorm(nn.Module):
    """Channel-first: x / max(||x||_2 over channels, 1e-12) · sqrt(C) · gamma (F.normalize)."""

    def __init__(self, dim, images=False):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones((dim, 1, 1) if images else (dim, 1, 1, 1)))
        self.scale = dim ** 0.5

    def forward(self, x):
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
        return x / norm * self.scale * self.gamma


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = RMSNorm(cin)
        self.conv1 = CausalConv3d(cin, cout, 3, padding=1)
        self.norm2 = RMSNorm(cout)
        self.conv2 = CausalConv3d(cout, cout, 3, padding=1)
        self.conv_shortcut = CausalConv3d(cin, cout, 1) if cin != cout else None

    def forward(self, x, cache, idx):
        skip = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        h = cached(self.conv1, F.silu(self.norm1(x)), cache, idx[0])
        idx[0] += 1
        h = cached(self.conv2, F.silu(self.norm2(h)), cache, idx[0])  # dropout: identity at eval
        idx[0] += 1
        return h + skip


class AttentionBlock(nn.Module):
    """Single-head self-attention over the pixels of each frame separately."""

    def __init__(self, dim):
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x):
        b, c, t, h, w = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        qkv = self.to_qkv(self.norm(frames)).reshape(b * t, 3 * c, h * w).transpose(1, 2)
        q, k, v = qkv[..., :c], qkv[..., c:2 * c], qkv[..., 2 * c:]
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(b * t, c, h, w)
        y = self.proj(y).reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)
        return x + y


class Resample(nn.Module):
    """up: nearest ×2 in space then a 3x3 conv to dim // 2 (upsample3d first doubles the frames
    with time_conv); down (encoder only, never run): pad right/bottom, 3x3 stride 2."""

    def __init__(self, dim, mode):
        super().__init__()
        self.mode = mode
        if mode in ("upsample2d", "upsample3d"):
            self.resample = nn.Sequential(nn.Identity(), nn.Conv2d(dim, dim // 2, 3, padding=1))
        else:
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
        if mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, 2 * dim, (3, 1, 1), padding=(1, 0, 0))
        elif mode == "downsample3d":
            self.time_conv = nn.Conv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1))

    def forward(self, x, cache, idx):
        b, c, t, h, w = x.shape
        if self.mode == "upsample3d":
            prev = cache[idx[0]]
            if prev is None:  # a video's first call: no time up-sampling, later calls know it
                cache[idx[0]] = "Rep"
            else:
                keep = x[:, :, -CACHE_T:].clone()
                if keep.shape[2] < CACHE_T:
                    before = torch.zeros_like(keep) if isinstance(prev, str) else prev[:, :, -1:]
                    keep = torch.cat([before, keep], dim=2)
                y = self.time_conv(x, None if isinstance(prev, str) else prev)
                cache[idx[0]] = keep
                # channels [j·c, (j+1)·c) of frame f become frame 2f + j
                x = y.reshape(b, 2, c, t, h, w).permute(0, 2, 3, 1, 4, 5).reshape(b, c, 2 * t, h, w)
            idx[0] += 1
        t = x.shape[2]
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        frames = frames.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        y = self.resample(frames)
        return y.reshape(b, t, y.shape[1], 2 * h, 2 * w).permute(0, 2, 1, 3, 4)


class MidBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.resnets = nn.ModuleList([ResidualBlock(dim, dim), ResidualBlock(dim, dim)])
        self.attentions = nn.ModuleList([AttentionBlock(dim)])

    def forward(self, x, cache, idx):
        x = self.resnets[0](x, cache, idx)
        x = self.attentions[0](x)
        return self.resnets[1](x, cache, idx)


class UpBlock(nn.Module):
    def __init__(self, cin, cout, num_res_blocks, mode):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResidualBlock(cin if i == 0 else cout, cout) for i in range(num_res_blocks + 1)])
        self.upsamplers = nn.ModuleList([Resample(cout, mode)]) if mode else None

    def forward(self, x, cache, idx):
        for r in self.resnets:
            x = r(x, cache, idx)
        return self.upsamplers[0](x, cache, idx) if self.upsamplers is not None else x


class Decoder(nn.Module):
    def __init__(self, dim, z_dim, dim_mult, num_res_blocks, temperal_upsample, out_channels):
        super().__init__()
        dims = [dim * m for m in [dim_mult[-1]] + dim_mult[::-1]]
        self.conv_in = CausalConv3d(z_dim, dims[0], 3, padding=1)
        self.mid_block = MidBlock(dims[0])
        blocks = []
        for i in range(len(dim_mult)):
            cin = dims[i] // 2 if i > 0 else dims[i]  # the previous up-sampler halved the width
            last = i == len(dim_mult) - 1
            mode = None if last else ("upsample3d" if temperal_upsample[i] else "upsample2d")
            blocks.append(UpBlock(cin, dims[i + 1], num_res_blocks, mode))
        self.up_blocks = nn.ModuleList(blocks)
        self.norm_out = RMSNorm(dims[-1])
        self.conv_out = CausalConv3d(dims[-1], out_channels, 3, padding=1)
        self.num_cached = sum(isinstance(m, CausalConv3d) and m.pad_t > 0 for m in self.modules())

    def forward(self, x, cache, idx):
        x = cached(self.conv_in, x, cache, idx[0])
        idx[0] += 1
        x = self.mid_block(x, cache, idx)
        for b in self.up_blocks:
            x = b(x, cache, idx)
        x = cached(self.conv_out, F.silu(self.norm_out(x)), cache, idx[0])
        idx[0] += 1
        return x


class Encoder(nn.Module):
    """Parameters only (names and shapes of diffusers' WanEncoder3d); never run here."""

    def __init__(self, dim, z_dim, dim_mult, num_res_blocks, temperal_downsample, in_channels):
        super().__init__()
        dims = [dim * m for m in [1] + dim_mult]
        self.conv_in = CausalConv3d(in_channels, dims[0], 3, padding=1)
        layers = []
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(num_res_blocks):
                layers.append(ResidualBlock(cin, cout))
                cin = cout
            if i != len(dim_mult) - 1:
                layers.append(Resample(cout, "downsample3d" if temperal_downsample[i] else
                                       "downsample2d"))
        self.down_blocks = nn.ModuleList(layers)
        self.mid_block = MidBlock(dims[-1])
        self.norm_out = RMSNorm(dims[-1])
        self.conv_out = CausalConv3d(dims[-1], z_dim, 3, padding=1)


class AutoencoderKLWanRef(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        c = config
        self.config = dict(c)
        z = c["z_dim"]
        if c.get("attn_scales") or c.get("is_residual") or (c.get("patch_size") or 1) != 1:
            raise ValueError("only the Wan2.1 layout: attn_scales [], is_residual false, no patch")
        dim = c.get("decoder_base_dim") or c["base_dim"]
        self.encoder = Encoder(c["base_dim"], 2 * z, c["dim_mult"], c["num_res_blocks"],
                               c["temperal_downsample"], c.get("in_channels", 3))
        self.quant_conv = CausalConv3d(2 * z, 2 * z, 1)
        self.post_quant_conv = CausalConv3d(z, z, 1)
        self.decoder = Decoder(dim, z, c["dim_mult"], c["num_res_blocks"],
                               list(reversed(c["temperal_downsample"])), c.get("out_channels", 3))
        self.register_buffer("mean", torch.tensor(c["latents_mean"]).view(1, z, 1, 1, 1))
        self.register_buffer("std", torch.tensor(c["latents_std"]).view(1, z, 1, 1, 1))

    def new_cache(self):
        return [None] * self.decoder.num_cached

    @torch.no_grad()
    def decode(self, latents, clamp=True, cache=None):
        """latents (B, z, n, h, w) normalized as the DiT makes them → (B, 3, frames, 8h, 8w).
        With `cache` (from new_cache(), continued over calls) decodes the frames after the ones
        that cache has seen; without, a whole video."""
        cache = self.new_cache() if cache is None else cache
        z = latents.to(self.std.dtype) * self.std + self.mean  # = latents / (1/std) + mean
        x = self.post_quant_conv(z)
        outs = []
        for i in range(x.shape[2]):  # one latent frame per decoder call, as diffusers' _decode
            outs.append(self.decoder(x[:, :, i:i + 1], cache, [0]))
        out = torch.cat(outs, dim=2)
        return out.clamp(-1.0, 1.0) if clamp else out


@torch.no_grad()
def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Weights N(0, 1/fan_in), biases N(0, 0.1^2), norm gammas 1 + N(0, 0.2^2)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters()):
        r = torch.randn(p.shape, generator=g, dtype=torch.float64)
        if name.endswith(".gamma"):
            v = 1.0 + 0.2 * r
        elif name.endswith(".bias"):
            v = 0.1 * r
        else:
            v = r / math.sqrt(p[0].numel())
        p.copy_(v.to(p.dtype))
    return model


def random_vae(config: dict, seed: int = 0, dtype=torch.float32) -> AutoencoderKLWanRef:
    return randomize(AutoencoderKLWanRef(config), seed).to(dtype).eval()


def write_vae_dir(model: AutoencoderKLWanRef, directory: str, dtype=torch.float32) -> None:
    """A diffusers-style vae/ directory: config.json + diffusion_pytorch_model.safetensors (every
    parameter under its official name, `dtype`)."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(model.config, f, indent=2)
    tensors = {k: v.to(dtype).contiguous() for k, v in model.state_dict().items()
               if k not in ("mean", "std")}
    save_file(tensors, os.path.join(directory, "diffusion_pytorch_model.safetensors"),
              metadata={"format": "pt"})


def write_random_vae_dir(directory: str, config: dict = None, seed: int = 0,
                         dtype=torch.float32) -> AutoencoderKLWanRef:
    """Writes a random-weight AutoencoderKLWan directory (small_config() by default); returns the
    f32 model it wrote."""
    model = random_vae(small_config() if config is None else config, seed)
    write_vae_dir(model, directory, dtype)
    return model
