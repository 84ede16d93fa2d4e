#!/usr/bin/python3
"""VAE round trip on held-out clips from a model directory's vae.safetensors: PSNR, and (with
--evaluator) the C++ evaluator's attribute accuracy on the reconstructions.

  /usr/bin/python3 tools/train/eval_vae.py --model models/reel-tiny --count 32 \
      [--frames 16] [--evaluator build/tools/eval/reel_eval_frames]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from reel_train import checkpoint, data  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--seed", type=int, default=20000)
    ap.add_argument("--split", default="heldout")
    ap.add_argument("--frames", type=int, default=data.TRAIN_FRAMES,
                    help="clip length (a multiple of 4); long clips test the decoder far from frame 0")
    ap.add_argument("--evaluator", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    vae, _, _ = checkpoint.load_model_vae(args.model)
    clips = data.dataset(args.seed, args.count, split=args.split, frames=args.frames)
    x = data.to_tensor_batch(clips)
    with torch.no_grad():
        y = torch.cat([vae.decode(vae.encode(x[i:i + 8])[0]) for i in range(0, len(clips), 8)])
    y8 = ((y.clamp(-1, 1) + 1) * 127.5).round()
    x8 = ((x + 1) * 127.5).round()
    mse = ((y8 - x8) ** 2).flatten(1).mean(1)
    psnr = (10 * torch.log10(255.0 ** 2 / mse)).mean().item()
    out = {"clips": len(clips), "frames": args.frames, "split": args.split,
           "psnr_db": round(psnr, 2)}
    if args.evaluator:
        ok = total = consistent = 0
        by_kind = {}  # "color" -> [ok, total]: what the VAE alone lets the evaluator read
        with tempfile.TemporaryDirectory() as tmp:
            for i, c in enumerate(clips):
                raw = os.path.join(tmp, "v.rgb")
                with open(raw, "wb") as f:
                    f.write(y8[i].permute(1, 2, 3, 0).to(torch.uint8).numpy().tobytes())
                r = subprocess.run([args.evaluator, raw, c.caption, "64x64"], capture_output=True,
                                   text=True)
                verdict = json.loads(r.stdout)
                # `reel eval --suite --long`'s criterion: right colour, one shape in >= 90% of frames
                consistent += int(verdict["keeps_color_and_shape"])
                for chk in verdict["checks"]:
                    ok += int(chk["ok"])
                    total += 1
                    tally = by_kind.setdefault(chk["attribute"].split(".")[-1], [0, 0])
                    tally[0] += int(chk["ok"])
                    tally[1] += 1
        out["evaluator_attribute_accuracy"] = round(ok / total, 3)
        out["by_attribute"] = {k: round(v[0] / v[1], 3) for k, v in sorted(by_kind.items())}
        out["consistent_clips"] = round(consistent / len(clips), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
