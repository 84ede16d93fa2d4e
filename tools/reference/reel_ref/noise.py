"""The engine's documented latent noise (pipeline/sampler/rng.h), written independently in numpy.

Philox4x32-10 (Salmon et al., SC'11) keyed by the seed; element j of stream s comes from counter
(j // 4, 0, s_lo, s_hi); each block's 4 words give two Box-Muller pairs with u = (word + 0.5) / 2^32.
Latent frame f is stream f. With this noise the PyTorch pipeline and `reel render` start from the same
tensor, so their videos can be compared pixel by pixel.
"""
import numpy as np
import torch

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_LO = np.uint64(0xFFFFFFFF)


def philox4x32(counters: np.ndarray, key) -> np.ndarray:
    """counters (n, 4) uint32-valued -> (n, 4) uint64 holding the 32-bit outputs."""
    c = [counters[:, i].astype(np.uint64) for i in range(4)]
    k0, k1 = int(key[0]) & 0xFFFFFFFF, int(key[1]) & 0xFFFFFFFF
    for _ in range(10):
        p0, p1 = _M0 * c[0], _M1 * c[2]  # 32 x 32 -> 64 bits, no overflow in uint64
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & _LO,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & _LO]
        k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
    return np.stack(c, axis=1)


def gaussian(seed: int, stream: int, n: int) -> np.ndarray:
    """n standard normals (float32) of (seed, stream), as GaussianFill."""
    blocks = (n + 3) // 4
    b = np.arange(blocks, dtype=np.uint64)
    counters = np.stack([b & _LO, b >> np.uint64(32), np.full_like(b, stream & 0xFFFFFFFF),
                         np.full_like(b, (stream >> 32) & 0xFFFFFFFF)], axis=1)
    words = philox4x32(counters, (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF)).astype(np.float64)
    u = (words + 0.5) / 4294967296.0
    out = np.empty((blocks, 4), dtype=np.float64)
    for pair in range(2):
        radius = np.sqrt(-2.0 * np.log(u[:, 2 * pair]))
        angle = 2.0 * np.pi * u[:, 2 * pair + 1]
        out[:, 2 * pair] = radius * np.cos(angle)
        out[:, 2 * pair + 1] = radius * np.sin(angle)
    return out.reshape(-1)[:n].astype(np.float32)


def latent_noise(seed: int, channels: int, frames: int, height: int, width: int,
                 first_frame: int = 0) -> torch.Tensor:
    """(1, channels, frames, height, width) float32, frame f drawn from stream first_frame + f."""
    per_frame = [gaussian(seed, first_frame + f, channels * height * width).reshape(channels, height,
                                                                                   width)
                 for f in range(frames)]
    return torch.from_numpy(np.stack(per_frame, axis=1)).unsqueeze(0)
