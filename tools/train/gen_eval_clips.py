#!/usr/bin/python3
"""Writes ground-truth clips for evaluator tests: <out>/clip_<i>.rgb (raw rgb24, 64x64, F frames) and
<out>/labels.tsv with one line per clip: index, frames, background, caption, objects
("color,shape,motion" joined by ";").

  /usr/bin/python3 tools/train/gen_eval_clips.py --out /tmp/clips --count 200 --seed 7
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_train import data  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--split", default="train", choices=["train", "heldout"])
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lines = []
    for i in range(args.count):
        clip = data.sample_clip(np.random.default_rng([args.seed, i]), args.split, args.frames)
        with open(os.path.join(args.out, f"clip_{i}.rgb"), "wb") as f:
            f.write(clip.video.tobytes())
        objs = ";".join(f"{o.color},{o.shape},{o.motion}" for o in clip.objects)
        lines.append(f"{i}\t{args.frames}\t{clip.bg}\t{clip.caption}\t{objs}\n")
    with open(os.path.join(args.out, "labels.tsv"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
