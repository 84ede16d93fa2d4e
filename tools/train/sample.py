#!/usr/bin/python3
"""Renders a prompt with the PyTorch references end to end, from a model directory:
text encoder -> block-AR DiT sampling (reel_ref.sampler.generate_block_ar) -> VAE decode -> frames.
The C++ engine's `reel render` output is compared against this.

  /usr/bin/python3 tools/train/sample.py --model models/reel-tiny --prompt "a red circle moving right" \
      --out /tmp/red --seed 0 [--frames 16] [--steps 20] [--cfg 4.0] [--mp4]

Writes <out>/frame_0000.png ... (and <out>/video.mp4 with --mp4, <out>/video.rgb raw rgb24).
Noise: the engine's Philox4x32 + Box-Muller latent noise (reel_ref/noise.py, pipeline/sampler/rng.h), so
the same seed gives the same video as `reel render` up to float rounding (tests/generate checks this).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from reel_ref import load_file, load_model, sampler  # noqa: E402
from reel_ref.noise import latent_noise  # noqa: E402
from reel_train import checkpoint  # noqa: E402
from reel_train.text_encoder import TextEncoder, Tokenizer  # noqa: E402


class Pipeline:
    def __init__(self, model_dir):
        self.dit, self.cfg = load_model(model_dir)
        o = self.cfg.other
        t = o["text_encoder"]
        self.tok = Tokenizer.load(os.path.join(model_dir, "tokenizer.json"))
        self.te = TextEncoder(t["vocab_size"], t["dim"], t["num_layers"], t["num_heads"],
                              t["mlp_hidden"], t["max_tokens"])
        self.te.load_state_dict({k: v.float() for k, v in
                                 load_file(os.path.join(model_dir, "text_encoder.safetensors")).items()})
        self.te.eval()
        self.vae, self.mean, self.std = checkpoint.load_model_vae(model_dir)
        self.video = o.get("video", {"width": 64, "height": 64, "frames": 16, "fps": 8})

    @torch.no_grad()
    def encode_text(self, texts):
        ids, mask = self.tok.batch(texts)
        return self.te(ids, mask), mask

    @torch.no_grad()
    def render(self, prompt, seed=0, frames=None, steps=None, cfg=None, solver=None, negative="",
               noise=None):
        """-> uint8 (frames, H, W, 3)."""
        s = self.cfg.sampler
        frames = frames or self.video["frames"]
        h, w = self.video["height"], self.video["width"]
        z = self.cfg.transformer.in_channels
        if noise is None:
            noise = latent_noise(seed, z, frames // 4, h // 4, w // 4)
        cap, mask = self.encode_text([prompt])
        ncap, nmask = self.encode_text([negative])
        lat = sampler.generate_block_ar(self.dit, noise, cap, mask, ncap, nmask, steps or s.steps,
                                        cfg if cfg is not None else s.cfg_scale, solver or s.solver,
                                        self.cfg.transformer.block_frames, s.flow_shift)
        px = self.vae.decode(lat * self.std + self.mean).clamp(-1, 1)
        px = ((px[0] + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0)
        return px.numpy()


def write_frames(video, out, fps, mp4=False):
    os.makedirs(out, exist_ok=True)
    f, h, w, _ = video.shape
    raw = os.path.join(out, "video.rgb")
    with open(raw, "wb") as fh:
        fh.write(np.ascontiguousarray(video).tobytes())
    base = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
            f"{w}x{h}", "-r", str(fps), "-i", raw]
    subprocess.run(base + [os.path.join(out, "frame_%04d.png")], check=True)
    if mp4:
        subprocess.run(base + ["-pix_fmt", "yuv420p", "-vf", "scale=256:256:flags=neighbor",
                               os.path.join(out, "video.mp4")], check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "models", "reel-tiny"))
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--negative", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--cfg", type=float, default=None)
    ap.add_argument("--solver", default=None)
    ap.add_argument("--mp4", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    p = Pipeline(args.model)
    video = p.render(args.prompt, args.seed, args.frames or None, args.steps or None, args.cfg,
                     args.solver, args.negative)
    write_frames(video, args.out, p.video["fps"], args.mp4)
    print(json.dumps({"out": args.out, "frames": int(video.shape[0]), "prompt": args.prompt}))


if __name__ == "__main__":
    main()
