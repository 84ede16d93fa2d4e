#!/usr/bin/python3
"""Writes a small random-weight Wan2.1 VAE directory and golden decodes for the C++ tests.

    /usr/bin/python3 tools/reference/make_wan_vae_golden.py --out DIR [--seed 0]

DIR/vae/config.json + DIR/vae/diffusion_pytorch_model.safetensors (AutoencoderKLWan field and key
names, F32) and DIR/wan_vae_golden.safetensors, computed in float64 from the f32-rounded weights and
inputs (so a C++ f32 decoder sees only its own rounding):
  input.latents   (4, 3, 4, 6)   normalized latents (z, n, h, w), as the DiT makes them
  output.raw      (3, 9, 32, 48) diffusers' _decode before the clamp (one latent frame per call)
  output.clamped  (3, 9, 32, 48) the same clamped to [-1, 1]
DIR/t2/ and DIR/wan_vae_golden_t2.safetensors: the same for a variant with one time up-sampler
(temperal_downsample [false, false, true], 2x in time) and z_dim 6, latents (6, 3, 4, 4).
DIR/released_layout/ and DIR/wan_vae_golden_released_layout.safetensors: the released config (dim_mult
[1, 2, 4, 4], 2 res blocks, z_dim 16, its latents_mean/std) at base_dim 4, latents (16, 2, 3, 4).
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref import save_file  # noqa: E402
from reel_ref import wan_vae  # noqa: E402


def write_case(out_dir, name, config, latent_shape, seed):
    model32 = wan_vae.write_random_vae_dir(os.path.join(out_dir, name), config, seed)
    model = model32.to(torch.float64)
    g = torch.Generator().manual_seed(seed + 1)
    latents = torch.randn(1, *latent_shape, generator=g).to(torch.float64)
    raw = model.decode(latents, clamp=False)[0]
    save_file({"input.latents": latents[0].float(), "output.raw": raw.float(),
               "output.clamped": raw.clamp(-1.0, 1.0).float()},
              os.path.join(out_dir, f"wan_vae_golden{'' if name == 'vae' else '_' + name}"
                           ".safetensors"))
    return raw


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    start = time.time()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    raw = write_case(args.out, "vae", wan_vae.small_config(), (4, 3, 4, 6), args.seed)
    # The released layout (dim_mult [1, 2, 4, 4], 2 res blocks, z 16 with the Wan2.1 statistics,
    # config fields as the released file has them) at base_dim 4 instead of 96.
    released = wan_vae.wan21_config()
    released["base_dim"] = 4
    write_case(args.out, "released_layout", released, (16, 2, 3, 4), args.seed + 20)
    write_case(args.out, "t2", wan_vae.small_config(
        z_dim=6, temperal_downsample=[False, False, True], scale_factor_temporal=2),
        (6, 3, 4, 4), args.seed + 10)
    print(f"wrote {args.out} (output {tuple(raw.shape)}, |x| max {raw.abs().max():.3f}, "
          f"clamped {float((raw.abs() > 1).double().mean()):.3f}) in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
