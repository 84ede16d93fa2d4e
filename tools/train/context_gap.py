#!/usr/bin/python3
"""How much the DiT suffers from its own context, the exposure bias behind long-video drift.

Teacher-forced velocity loss per latent frame on clips it was not trained on, once with the
ground-truth frames as context (what teacher-forced training shows it) and once with the model's
own one-step estimate of those frames (train_dit.model_context, what --self-context trains on;
block-AR generation conditions on generated frames). Same clips, noise and noise levels for both,
so the difference is the context alone.

  /usr/bin/python3 tools/train/context_gap.py --model models/reel-tiny --count 16 --frames 64
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import train_dit  # noqa: E402
from reel_train import data, fast_dit  # noqa: E402
from sample import Pipeline  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "models", "reel-tiny"))
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--frames", type=int, default=64, help="pixel frames (a multiple of 4)")
    ap.add_argument("--seed", type=int, default=30000)
    ap.add_argument("--split", default="heldout", choices=["train", "heldout"])
    ap.add_argument("--sigma", type=float, nargs=2, default=[0.2, 0.6], metavar=("LO", "HI"),
                    help="noise range of the model's estimate (train_dit --self-context-sigma)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    p = Pipeline(args.model)
    shift = p.cfg.sampler.flow_shift
    rng, gen = np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed)
    clips = data.dataset(args.seed, args.count, split=args.split, frames=args.frames)
    losses = {"ground_truth": [], "own_estimate": []}  # per clip and latent frame
    with torch.no_grad():
        for i in range(0, len(clips), args.batch):
            part = clips[i:i + args.batch]
            x0 = (p.vae.encode(data.to_tensor_batch(part))[0] - p.mean) / p.std
            caption, mask = p.encode_text([c.caption for c in part])
            sigma = train_dit.sample_sigma(rng, (len(part), x0.shape[2]), shift, "cpu")
            noise = torch.randn(x0.shape, generator=gen)
            s = sigma[:, None, :, None, None]
            xt = (1 - s) * x0 + s * noise
            own = train_dit.model_context(rng, gen, p.dit, x0, caption, mask, args.sigma)
            for name, context in (("ground_truth", x0), ("own_estimate", own)):
                v = fast_dit.forward_teacher_forced(p.dit, context, xt, 1000 * sigma, caption, mask)
                losses[name].append(((v - (noise - x0)) ** 2).mean(dim=(1, 3, 4)))
    out = {"clips": len(clips), "frames": args.frames, "split": args.split,
           "estimate_sigma": args.sigma}
    for name, parts in losses.items():
        per_frame = torch.cat(parts).mean(0)  # (latent frames,)
        quarters = [round(q.mean().item(), 4) for q in per_frame.chunk(4)]
        out[name] = {"loss": round(per_frame.mean().item(), 4), "by_quarter_of_clip": quarters}
    out["ratio"] = round(out["own_estimate"]["loss"] / out["ground_truth"]["loss"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
