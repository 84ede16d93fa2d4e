#!/usr/bin/python3
"""Writes a small random-weight model and golden tensors for the C++ engine's tests.

    /usr/bin/python3 tools/reference/make_golden.py --out DIR [--config small] [--seed 0]

DIR/model/config.json + DIR/model/transformer.safetensors (f32 weights) and DIR/golden.safetensors
(f32 tensors, computed in float64 from the f32-rounded weights and inputs, so the only error a C++ f32
test sees is its own). Tensor names and __metadata__ keys: tools/reference/README.md.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref import BlockState, ModelConfig, SamplerConfig, save_file, save_model  # noqa: E402
from reel_ref import sampler  # noqa: E402
from reel_ref.testing import random_model, small_config  # noqa: E402

STEPS = 4
CFG = 4.0
FLOW_SHIFT = 3.0
LATENT_SHAPE = (1, 4, 4, 8, 8)
CAPTION_LEN = 7
TIMESTEP = 757.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="small", choices=["small"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    start = time.time()
    torch.set_num_threads(1)

    cfg = small_config()
    bf = cfg.block_frames
    model32 = random_model(cfg, seed=args.seed)
    mcfg = ModelConfig(transformer=cfg, name="golden-small",
                       sampler=SamplerConfig(flow_shift=FLOW_SHIFT, steps=STEPS, cfg_scale=CFG,
                                             solver="euler"))
    save_model(model32, mcfg, os.path.join(args.out, "model"))
    model = model32.to(torch.float64)  # f32-rounded weights, evaluated in f64

    g = torch.Generator().manual_seed(args.seed + 1)

    def randn(*shape):  # f32-rounded random inputs, held in f64
        return torch.randn(*shape, generator=g).to(torch.float64)

    B, C, Fr, H, W = LATENT_SHAPE
    Dc = cfg.caption_dim
    latents = randn(*LATENT_SHAPE)
    timestep = torch.tensor([TIMESTEP] * B, dtype=torch.float64)
    caption, neg_caption = randn(B, CAPTION_LEN, Dc), randn(B, CAPTION_LEN, Dc)
    caption_mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0]] * B, dtype=torch.float64)
    neg_mask = torch.tensor([[1, 1, 0, 0, 0, 0, 0]] * B, dtype=torch.float64)
    noise = randn(*LATENT_SHAPE)
    grid = model.grid_of(latents)
    frames = grid.frames
    perframe_t = torch.cat([torch.zeros(B, bf, dtype=torch.float64),
                            timestep[:, None].expand(B, frames - bf)], dim=1)

    out = {}
    with torch.no_grad():
        out["input.latents"] = latents
        out["input.timestep"] = timestep
        out["input.timestep_perframe"] = perframe_t
        out["input.caption"] = caption
        out["input.caption_mask"] = caption_mask
        out["input.neg_caption"] = neg_caption
        out["input.neg_caption_mask"] = neg_mask

        x = model.embed_patches(latents)
        embedded_t, t6 = model.embed_timestep(timestep)
        c = model.embed_caption(caption)
        out["stage.patch_embed"] = x
        out["stage.embedded_timestep"] = embedded_t
        out["stage.timestep6"] = t6
        out["stage.caption"] = c
        out["stage.block0.out"], _ = model.block_forward(0, x, t6[:, None], c, caption_mask, grid)

        out["output.velocity"] = model(latents, timestep, caption, caption_mask)
        out["output.velocity_causal"] = model(latents, timestep, caption, caption_mask,
                                              causal_block_frames=bf)
        out["output.velocity_perframe"] = model(latents, perframe_t, caption, caption_mask,
                                                causal_block_frames=bf)

        # Block AR: state after the clean (t = 0) pass over block 0, then block 1 with that state;
        # by the invariant this equals output.velocity_perframe[:, :, bf:2bf].
        pt = cfg.patch_size[0]
        _, state = model(latents[:, :, :bf * pt], torch.zeros(B, dtype=torch.float64), caption,
                         caption_mask, state=BlockState.zeros(cfg, B, grid.tokens_per_frame,
                                                              torch.float64), update_state=True)
        for i, layer in enumerate(state.layers):
            out[f"state.layer{i}.kv"] = layer.kv
            out[f"state.layer{i}.ksum"] = layer.ksum
            out[f"state.layer{i}.conv_tail"] = layer.conv_tail
        out["output.velocity_ar_block1"] = model(latents[:, :, bf * pt:2 * bf * pt], timestep,
                                                 caption, caption_mask, frame_offset=bf, state=state)

        common = (caption, caption_mask, neg_caption, neg_mask)
        out["sample.noise"] = noise
        out["sample.sigmas"] = torch.tensor(sampler.sigma_schedule(STEPS, FLOW_SHIFT))
        out["sample.euler_step1"] = _first_euler_step(model, noise, common, bf)
        out["sample.euler4"] = sampler.sample(model, noise, *common, steps=STEPS, cfg=CFG,
                                              solver="euler", flow_shift=FLOW_SHIFT,
                                              causal_block_frames=bf)
        out["sample.dpm4"] = sampler.sample(model, noise, *common, steps=STEPS, cfg=CFG,
                                            solver="dpm++2m", flow_shift=FLOW_SHIFT,
                                            causal_block_frames=bf)
        out["sample.ar_euler4"] = sampler.generate_block_ar(model, noise, *common, steps=STEPS,
                                                            cfg=CFG, solver="euler",
                                                            block_frames=bf, flow_shift=FLOW_SHIFT)

    metadata = {
        "seed": str(args.seed),
        "config": args.config,
        "dtype": "computed in float64 from f32 weights/inputs, stored as F32",
        "timestep": repr(TIMESTEP),
        "block_frames": str(bf),
        "steps": str(STEPS),
        "cfg": repr(CFG),
        "flow_shift": repr(FLOW_SHIFT),
        "solver.euler4": "euler",
        "solver.dpm4": "dpm++2m",
        "solver.ar_euler4": "euler",
        "attention.sample": "block_causal",
        "euler_step1": "first step of sample.euler4 (steps=4 schedule, cfg, block-causal)",
        "ar.state": "state.* = after the clean t=0 pass over block 0 of input.latents",
    }
    save_file({k: v.to(torch.float32).contiguous() for k, v in out.items()},
              os.path.join(args.out, "golden.safetensors"), metadata)
    print(f"wrote {len(out)} golden tensors to {args.out} in {time.time() - start:.2f} s")


def _first_euler_step(model, noise, common, bf):
    sigmas = sampler.sigma_schedule(STEPS, FLOW_SHIFT)
    v = sampler.cfg_velocity(model, noise, sigmas[0], *common, CFG, causal_block_frames=bf)
    return sampler.euler_step(noise, v, sigmas[0], sigmas[1])


if __name__ == "__main__":
    main()
