#!/usr/bin/python3
"""Trains the reel-tiny video VAE on procedural clips (CPU). See models/reel-tiny/README.md.

  /usr/bin/python3 tools/train/train_vae.py --out /tmp/reel-train/vae --steps 1500 --seed 1
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from reel_train import checkpoint, data  # noqa: E402
from reel_train.vae import VideoVAE  # noqa: E402


def psnr(a, b):
    """PSNR in dB of videos in [-1,1] (peak-to-peak 2), averaged over clips."""
    mse = ((a.clamp(-1, 1) - b) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(4.0 / mse)).mean().item()


def evaluate(model, clips):
    model.eval()
    with torch.no_grad():
        x = data.to_tensor_batch(clips)
        mean, _ = model.encode(x)
        y = model.decode(mean)
    model.train()
    return psnr(y, x), mean


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--kl", type=float, default=1e-6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=16, help="training clip length (multiple of 4)")
    ap.add_argument("--init", default="",
                    help="start from this vae.pt or a model's vae.safetensors (a second, shorter schedule)")
    ap.add_argument("--max-minutes", type=float, default=1e9, help="stop early (shared CPU)")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="end after this step; the learning-rate schedule still spans --steps")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--fg-weight", type=float, default=0.0,
                    help="extra loss weight on pixels that differ from the background (objects are ~5%%)")
    ap.add_argument("--crop", type=int, default=0, help="train on CxC crops (multiple of 4) near objects")
    ap.add_argument("--deterministic", action="store_true", help="decode the mean (no sampling)")
    ap.add_argument("--freeze-encoder", action="store_true",
                    help="train the decoder only (latents stay fixed, so DiT training can run meanwhile)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    model = checkpoint.load_vae(args.init).train() if args.init else VideoVAE()
    if args.freeze_encoder:
        model.encoder.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=0.0)
    heldout = data.dataset(10_000 + args.seed, 16, split="heldout")
    t0 = time.time()
    for step in range(1, args.steps + 1):
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        lr *= min(1.0, step / max(args.warmup, 1))
        for g in opt.param_groups:
            g["lr"] = lr
        rng = np.random.default_rng([args.seed, step])
        clips = [data.sample_clip(rng, frames=args.frames) for _ in range(args.batch)]
        x = data.to_tensor_batch(clips)
        bg = torch.tensor([data.BACKGROUNDS[c.bg] for c in clips], dtype=torch.float32) / 127.5 - 1
        weight = 1 + args.fg_weight * ((x - bg.view(-1, 3, 1, 1, 1)).abs().amax(1, keepdim=True) > 0.05)
        if args.crop:
            xs, ws = [], []
            for i, c in enumerate(clips):
                o = c.objects[0]
                oy = int(np.clip((o.y - args.crop / 2 + rng.uniform(-8, 8)) // 4 * 4, 0, 64 - args.crop))
                ox = int(np.clip((o.x - args.crop / 2 + rng.uniform(-8, 8)) // 4 * 4, 0, 64 - args.crop))
                xs.append(x[i, :, :, oy:oy + args.crop, ox:ox + args.crop])
                ws.append(weight[i, :, :, oy:oy + args.crop, ox:ox + args.crop])
            x, weight = torch.stack(xs), torch.stack(ws)
        if args.freeze_encoder:
            with torch.no_grad():
                mean, logvar = model.encode(x)
        else:
            mean, logvar = model.encode(x)
        z = mean if args.deterministic else mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        y = model.decode(z)
        rec = ((y - x).abs() * weight).mean() + (((y - x) ** 2) * weight).mean()
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
        loss = rec + args.kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 25 == 0:
            print(f"step {step} loss {loss.item():.4f} rec {rec.item():.4f} kl {kl.item():.3f} "
                  f"lr {lr:.2e} {time.time() - t0:.0f}s", flush=True)
        last = (step == args.steps or step == args.stop_after
                or time.time() - t0 > 60 * args.max_minutes)
        if step % 100 == 0 or last:
            p, _ = evaluate(model, heldout)
            print(f"step {step} heldout_psnr {p:.2f} dB", flush=True)
            torch.save(model.state_dict(), os.path.join(args.out, "vae.pt.tmp"))
            os.replace(os.path.join(args.out, "vae.pt.tmp"), os.path.join(args.out, "vae.pt"))
        if last:
            break
    print("done", flush=True)


if __name__ == "__main__":
    main()
