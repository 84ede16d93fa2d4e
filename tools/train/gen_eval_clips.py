#!/usr/bin/python3
"""Writes ground-truth clips for evaluator tests: <out>/clip_<i>.rgb (raw rgb24, 64x64, F frames) and
<out>/labels.tsv with one line per clip: index, frames, background, caption, objects
("color,shape,motion" joined by ";"). With --latents MODEL, also <out>/clip_<i>.latents: the clip
encoded by MODEL's VAE encoder and normalized with its latent statistics, as the DiT produces them
(raw float32, (z, F/4, 16, 16)), for tests of the C++ decoder on known content.

  /usr/bin/python3 tools/train/gen_eval_clips.py --out /tmp/clips --count 200 --seed 7
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from reel_train import data  # noqa: E402


def latent_encoder(model):
    """clip -> normalized latents (z, F/4, 16, 16) as a float32 numpy array."""
    import torch  # only here: the plain clips (evaluator tests) need no PyTorch
    from reel_train import checkpoint
    torch.set_num_threads(1)
    vae, mean, std = checkpoint.load_model_vae(model)

    def encode(clip):
        with torch.no_grad():
            z = vae.encode(data.to_tensor_batch([clip]))[0]
        return ((z - mean) / std)[0].numpy().astype(np.float32)
    return encode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--split", default="train", choices=["train", "heldout"])
    ap.add_argument("--two-prob", type=float, default=0.3,
                    help="probability of a second object (train split)")
    ap.add_argument("--latents", default="", help="a model directory: also write encoded latents")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    encode = latent_encoder(args.latents) if args.latents else None
    lines = []
    for i in range(args.count):
        clip = data.sample_clip(np.random.default_rng([args.seed, i]), args.split, args.frames,
                                two_prob=args.two_prob)
        with open(os.path.join(args.out, f"clip_{i}.rgb"), "wb") as f:
            f.write(clip.video.tobytes())
        if encode:
            with open(os.path.join(args.out, f"clip_{i}.latents"), "wb") as f:
                f.write(encode(clip).tobytes())
        objs = ";".join(f"{o.color},{o.shape},{o.motion}" for o in clip.objects)
        lines.append(f"{i}\t{args.frames}\t{clip.bg}\t{clip.caption}\t{objs}\n")
    with open(os.path.join(args.out, "labels.tsv"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
