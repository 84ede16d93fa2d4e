#!/usr/bin/python3
"""Renders prompts with the PyTorch pipeline (sample.py) and scores them with the C++ evaluator
(reel_eval_frames from tools/eval): per-attribute accuracy on training-distribution and held-out prompts.

  /usr/bin/python3 tools/train/eval_samples.py --model models/reel-tiny \
      --evaluator build/tools/eval/reel_eval_frames --count 24 --seed 0 [--split heldout]
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from reel_train import data  # noqa: E402
from sample import Pipeline  # noqa: E402


def prompts(split, count, seed):
    out = []
    rng = np.random.default_rng([seed, 99])
    for i in range(count):
        if split == "heldout":
            c, s, m = data.HELD_OUT[i % len(data.HELD_OUT)]
        else:
            while True:
                c = list(data.COLORS)[rng.integers(len(data.COLORS))]
                s = data.SHAPES[rng.integers(len(data.SHAPES))]
                m = data.MOTIONS[rng.integers(len(data.MOTIONS))]
                if (c, s, m) not in data.HELD_OUT:
                    break
        bg = list(data.BACKGROUNDS)[rng.integers(len(data.BACKGROUNDS))]
        art = "an" if c[0] in "aeiou" else "a"
        out.append(f"{art} {c} {data.SHAPE_WORDS[s][0]} {data.MOTION_WORDS[m][0]} on a {bg} background")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--evaluator", required=True)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="train", choices=["train", "heldout"])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--cfg", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prompt", action="append", default=[], help="explicit prompts instead")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline(args.model)
    ok = collections.Counter()
    total = collections.Counter()
    acc_sum = 0.0
    todo = args.prompt or prompts(args.split, args.count, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        for i, p in enumerate(todo):
            video = pipe.render(p, seed=args.seed * 1000 + i, frames=args.frames,
                                steps=args.steps or None, cfg=args.cfg)
            raw = os.path.join(tmp, f"v{i}.rgb")
            with open(raw, "wb") as f:
                f.write(np.ascontiguousarray(video).tobytes())
            r = subprocess.run([args.evaluator, raw, p, f"{video.shape[2]}x{video.shape[1]}"],
                               capture_output=True, text=True)
            j = json.loads(r.stdout)
            acc_sum += j["accuracy"]
            for c in j["checks"]:
                kind = c["attribute"].split(".")[-1]
                total[kind] += 1
                ok[kind] += int(c["ok"])
            found = "; ".join(f"{o['color']} {o['shape']} {o['motion']}" for o in j["objects"])
            print(f"{j['accuracy']:.2f} | {p} | found bg {j['background']}: {found}", flush=True)
    summary = {k: round(ok[k] / total[k], 3) for k in total}
    summary["mean_prompt_accuracy"] = round(acc_sum / len(todo), 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
