#!/usr/bin/python3
"""Golden for bidirectional (full-sequence) sampling with diffusers' flow DPM-Solver++.

    /usr/bin/python3 tools/reference/make_sequence_golden.py --out DIR

DIR/model: a small random model with temporal_conv "centered" (the official SANA-Video kind: one
sequence, no block state) and sampler settings of the official scheduler (num_train_timesteps 1000,
flow shift 8). DIR/golden.safetensors: noise, captions and the clean latents of the SANA-Video
pipeline's loop (reel_ref/dpm_flow.py: diffusers' DPMSolverMultistepScheduler, order 2 and order 1)
over all latent frames at once, computed in float64 from the f32 weights and inputs.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref import ModelConfig, SamplerConfig, save_file, save_model  # noqa: E402
from reel_ref import dpm_flow  # noqa: E402
from reel_ref.testing import random_model, small_config  # noqa: E402

STEPS = 5
CFG = 4.0
FLOW_SHIFT = 8.0
TRAIN_TIMESTEPS = 1000
LATENT_SHAPE = (1, 4, 5, 6, 8)  # 5 latent frames: the centered conv mixes every neighbour
CAPTION_LEN = 7


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    start = time.time()
    torch.set_num_threads(1)
    cfg = small_config(temporal_conv="centered")
    model32 = random_model(cfg, seed=args.seed)
    mcfg = ModelConfig(transformer=cfg, name="golden-sequence",
                       sampler=SamplerConfig(flow_shift=FLOW_SHIFT, steps=STEPS, cfg_scale=CFG,
                                             solver="dpm++2m",
                                             num_train_timesteps=TRAIN_TIMESTEPS))
    save_model(model32, mcfg, os.path.join(args.out, "model"))
    model = model32.to(torch.float64)
    g = torch.Generator().manual_seed(args.seed + 1)

    def randn(*shape):
        return torch.randn(*shape, generator=g).to(torch.float64)

    B = LATENT_SHAPE[0]
    out = {
        "input.noise": randn(*LATENT_SHAPE),
        "input.caption": randn(B, CAPTION_LEN, cfg.caption_dim),
        "input.neg_caption": randn(B, CAPTION_LEN, cfg.caption_dim),
        "input.caption_mask": torch.tensor([[1, 1, 1, 1, 1, 0, 0]] * B, dtype=torch.float64),
        "input.neg_caption_mask": torch.tensor([[1, 1, 0, 0, 0, 0, 0]] * B, dtype=torch.float64),
    }
    sigmas, timesteps = dpm_flow.flow_schedule(STEPS, FLOW_SHIFT, TRAIN_TIMESTEPS)
    out["schedule.sigmas"] = torch.tensor(sigmas, dtype=torch.float64)
    out["schedule.timesteps"] = torch.tensor(timesteps, dtype=torch.float64)
    common = (out["input.caption"], out["input.caption_mask"], out["input.neg_caption"],
              out["input.neg_caption_mask"])
    for order in (1, 2):
        out[f"sample.order{order}"] = dpm_flow.sample(
            model, out["input.noise"], *common, steps=STEPS, cfg=CFG, flow_shift=FLOW_SHIFT,
            num_train_timesteps=TRAIN_TIMESTEPS, solver_order=order)
    metadata = {"steps": str(STEPS), "cfg": repr(CFG), "flow_shift": repr(FLOW_SHIFT),
                "num_train_timesteps": str(TRAIN_TIMESTEPS),
                "sample.order1": "solver_order 1 (= reel euler)",
                "sample.order2": "solver_order 2 (= reel dpm++2m)"}
    save_file({k: v.to(torch.float32).contiguous() for k, v in out.items()},
              os.path.join(args.out, "golden.safetensors"), metadata)
    print(f"wrote {len(out)} golden tensors to {args.out} in {time.time() - start:.2f} s")


if __name__ == "__main__":
    main()
