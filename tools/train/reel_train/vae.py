"""reel-tiny causal video VAE (Wan family, simplified). Contract: pipeline/model/VAE.md.

Layout (B, C, T, H, W). Every temporal convolution is causal: 2 zero frames are prepended (kernel 3 in
time), so output frame t sees input frames <= t. Pixel frames = 4 x latent frames; spatial factor 4.
The decoder is what the C++ engine implements; the encoder only exists for training.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

RMS_EPS = 1e-6


def pixels_to_input(video):
    """uint8 RGB (B, F, H, W, 3), a tensor on any device -> the encoder's input: float32
    (B, 3, F, H, W) in [-1, 1]."""
    return video.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


class RMSNorm(nn.Module):
    """Channel RMS norm: x / sqrt(mean_c(x^2) + eps) * gamma (per pixel, over channels)."""

    def __init__(self, ch):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(ch))

    def forward(self, x):
        r = torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + RMS_EPS)
        return x * r * self.gamma.view(1, -1, 1, 1, 1)


class CausalConv3d(nn.Conv3d):
    """Conv3d with kernel (kt, kh, kw), stride 1 in time, kt-1 zero frames in front, kh//2 spatial zero pad."""

    def __init__(self, cin, cout, kernel, stride_hw=1):
        kt, kh, kw = kernel
        super().__init__(cin, cout, kernel, stride=(1, stride_hw, stride_hw), padding=0)
        self.kt, self.ph, self.pw = kt, kh // 2, kw // 2
        self.streaming = False  # when True, prepend `cache` (last kt-1 input frames) instead of zeros
        self.cache = None

    def forward(self, x):
        if self.streaming and self.kt > 1:
            if self.cache is None:
                self.cache = torch.zeros_like(x[:, :, :1]).repeat(1, 1, self.kt - 1, 1, 1)
            xc = torch.cat([self.cache, x], dim=2)
            self.cache = xc[:, :, -(self.kt - 1):].detach()
            x = F.pad(xc, (self.pw, self.pw, self.ph, self.ph, 0, 0))
        else:
            x = F.pad(x, (self.pw, self.pw, self.ph, self.ph, self.kt - 1, 0))
        return super().forward(x)


class ResBlock(nn.Module):
    """x + conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))), both convs 3x3x3 causal."""

    def __init__(self, ch):
        super().__init__()
        self.norm1 = RMSNorm(ch)
        self.conv1 = CausalConv3d(ch, ch, (3, 3, 3))
        self.norm2 = RMSNorm(ch)
        self.conv2 = CausalConv3d(ch, ch, (3, 3, 3))

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return x + h


class TimeUp(nn.Module):
    """Causal conv (3,1,1) C -> 2C; output frame t, channel half j becomes frame 2t + j."""

    def __init__(self, ch):
        super().__init__()
        self.conv = CausalConv3d(ch, 2 * ch, (3, 1, 1))

    def forward(self, x):
        b, c, t, h, w = x.shape
        y = self.conv(x).view(b, 2, c, t, h, w)
        return y.permute(0, 2, 3, 1, 4, 5).reshape(b, c, 2 * t, h, w)


class SpaceUp(nn.Module):
    """Nearest x2 in H and W, then a (1,3,3) conv."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = CausalConv3d(cin, cout, (1, 3, 3))

    def forward(self, x):
        b, c, t, h, w = x.shape
        x = x.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)
        return self.conv(x)


class TimeDown(nn.Module):
    """Frames (2t, 2t+1) stacked on channels, then a 1x1x1 conv 2C -> C (causal by construction)."""

    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv3d(2 * ch, ch, 1)

    def forward(self, x):
        b, c, t, h, w = x.shape
        x = x.view(b, c, t // 2, 2, h, w).permute(0, 3, 1, 2, 4, 5).reshape(b, 2 * c, t // 2, h, w)
        return self.conv(x)


class Encoder(nn.Module):
    def __init__(self, z, ch=(16, 32, 64)):
        super().__init__()
        c0, c1, c2 = ch
        self.conv_in = CausalConv3d(3, c0, (3, 3, 3))
        self.down0 = CausalConv3d(c0, c1, (1, 3, 3), stride_hw=2)
        self.res0 = ResBlock(c1)
        self.tdown0 = TimeDown(c1)
        self.down1 = CausalConv3d(c1, c2, (1, 3, 3), stride_hw=2)
        self.res1 = ResBlock(c2)
        self.tdown1 = TimeDown(c2)
        self.res2 = ResBlock(c2)
        self.norm_out = RMSNorm(c2)
        self.conv_out = CausalConv3d(c2, 2 * z, (3, 3, 3))

    def forward(self, x):
        h = self.conv_in(x)
        h = self.res0(self.down0(h))
        h = self.res1(self.down1(self.tdown0(h)))
        h = self.res2(self.tdown1(h))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Names here are the safetensors names (prefix "decoder.")."""

    def __init__(self, z, ch=(16, 32, 64)):
        super().__init__()
        c0, c1, c2 = ch
        self.conv_in = CausalConv3d(z, c2, (3, 3, 3))
        self.res0 = ResBlock(c2)
        self.res1 = ResBlock(c2)
        self.tup0 = TimeUp(c2)
        self.up0 = SpaceUp(c2, c1)
        self.res2 = ResBlock(c1)
        self.tup1 = TimeUp(c1)
        self.up1 = SpaceUp(c1, c0)
        self.res3 = ResBlock(c0)
        self.norm_out = RMSNorm(c0)
        self.conv_out = CausalConv3d(c0, 3, (3, 3, 3))

    def forward(self, z):
        h = self.res1(self.res0(self.conv_in(z)))
        h = self.res2(self.up0(self.tup0(h)))
        h = self.res3(self.up1(self.tup1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))


class VideoVAE(nn.Module):
    def __init__(self, z=8, ch=(16, 32, 64)):
        super().__init__()
        self.z = z
        self.encoder = Encoder(z, ch)
        self.decoder = Decoder(z, ch)

    def encode(self, x):
        """x (B,3,T,H,W) in [-1,1], T multiple of 4 -> (mean, logvar) each (B,z,T/4,H/4,W/4)."""
        m = self.encoder(x)
        mean, logvar = m.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        """Raw (unnormalized) latents -> pixels (not clamped; the engine clamps to [-1,1])."""
        return self.decoder(z)

    def decode_streaming(self, z, chunk=1):
        """Decodes `chunk` latent frames at a time with per-conv caches (VAE.md, streaming)."""
        convs = [m for m in self.decoder.modules() if isinstance(m, CausalConv3d)]
        for m in convs:
            m.streaming, m.cache = True, None
        try:
            outs = [self.decoder(z[:, :, i:i + chunk]) for i in range(0, z.shape[2], chunk)]
        finally:
            for m in convs:
                m.streaming, m.cache = False, None
        return torch.cat(outs, dim=2)
