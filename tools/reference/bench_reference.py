#!/usr/bin/python3
"""Times the PyTorch reference sampler on a model directory (the baseline of `reel bench`).

    /usr/bin/python3 tools/reference/bench_reference.py --model DIR --steps 4 --frames 8 \\
        --height 16 --width 16 --threads 2 [--mode clip|ar] [--cfg 4.5] [--caption-len 16]

Latent frames/height/width are in latent units. Prints `reference_seconds_per_step=<x>` where a step is
one denoising step of the whole clip (both CFG branches; in `ar` mode summed over blocks, including the
clean state-update passes), after one warm-up forward.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref import load_model  # noqa: E402
from reel_ref import sampler  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--frames", type=int, default=8, help="latent frames")
    ap.add_argument("--height", type=int, default=16, help="latent height")
    ap.add_argument("--width", type=int, default=16, help="latent width")
    ap.add_argument("--caption-len", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cfg", type=float, default=None, help="default: config.json sampler.cfg_scale")
    ap.add_argument("--solver", default=None, help="default: config.json sampler.solver")
    ap.add_argument("--mode", choices=["clip", "ar"], default="clip",
                    help="clip: whole clip, block-causal; ar: block-autoregressive with state")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="runs; the fastest is reported")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, mcfg = load_model(args.model)
    cfg = mcfg.transformer
    guidance = mcfg.sampler.cfg_scale if args.cfg is None else args.cfg
    solver = args.solver or mcfg.sampler.solver
    g = torch.Generator().manual_seed(args.seed)
    noise = torch.randn(1, cfg.in_channels, args.frames, args.height, args.width, generator=g)
    caption = torch.randn(1, args.caption_len, cfg.caption_dim, generator=g)
    neg = torch.randn(1, args.caption_len, cfg.caption_dim, generator=g)
    mask = torch.ones(1, args.caption_len)

    with torch.no_grad():  # warm-up (allocator, thread pool)
        model(noise, torch.tensor([500.0]), caption, mask, causal_block_frames=cfg.block_frames)
    common = (model, noise, caption, mask, neg, mask)
    seconds = float("inf")
    for _ in range(max(1, args.repeat)):  # the best of a few runs: shared machines are noisy
        start = time.perf_counter()
        if args.mode == "clip":
            sampler.sample(*common, steps=args.steps, cfg=guidance, solver=solver,
                           flow_shift=mcfg.sampler.flow_shift, causal_block_frames=cfg.block_frames)
        else:
            sampler.generate_block_ar(*common, steps=args.steps, cfg=guidance, solver=solver,
                                      block_frames=cfg.block_frames,
                                      flow_shift=mcfg.sampler.flow_shift)
        seconds = min(seconds, time.perf_counter() - start)
    print(f"reference_mode={args.mode} frames={args.frames} height={args.height} width={args.width} "
          f"steps={args.steps} cfg={guidance} solver={solver} threads={args.threads}")
    print(f"reference_seconds_total={seconds:.6f}")
    print(f"reference_seconds_per_step={seconds / args.steps:.6f}")


if __name__ == "__main__":
    main()
