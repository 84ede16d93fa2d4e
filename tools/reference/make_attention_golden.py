#!/usr/bin/python3
"""Writes a small random-weight model of one attention kind and golden tensors for the C++ tests.

    /usr/bin/python3 tools/reference/make_attention_golden.py --out DIR --attention sparse_linear

Like make_golden.py (f32 weights and inputs, computed in float64): DIR/model/ and
DIR/golden.safetensors with
  input.latents (1, 4, 8, 8, 8): 8 token frames of 4 x 4 = 4 blocks of 32 tokens
  input.caption, input.caption_mask, input.timestep_perframe (0 for blocks 0-2, 640 for block 3)
  output.velocity            bidirectional, one timestep (a partial last tile for sparse_linear)
  output.velocity_causal     block-causal with the window, one timestep
  output.velocity_perframe   block-causal, per-frame timesteps; its block 3 is what block-AR
                             generation with the kept window computes after blocks 0-2
  state.layer0.win_k         layer 0's kept keys after the clean passes over blocks 0-2
Tiles 12 x 8 on 32-token blocks (effective 8 x 8) and a window of 2 blocks: a tile count the
selection really cuts (top-k 0.3 of 8 key tiles = 2).
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref import BlockState, ModelConfig, SamplerConfig, save_file, save_model  # noqa: E402
from reel_ref.testing import random_model, small_config  # noqa: E402

LATENT_SHAPE = (1, 4, 8, 8, 8)
TIMESTEP = 640.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--attention", required=True, choices=["softmax", "sparse_linear"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = small_config(attention=args.attention, attention_window=2, sla_topk=0.3, sla_tile_q=12,
                       sla_tile_k=8, block_frames=2)
    model32 = random_model(cfg, seed=args.seed)
    save_model(model32, ModelConfig(transformer=cfg, name=f"golden-{args.attention}",
                                    sampler=SamplerConfig()), os.path.join(args.out, "model"))
    model = model32.to(torch.float64)
    g = torch.Generator().manual_seed(args.seed + 1)

    def randn(*shape):
        return torch.randn(*shape, generator=g).to(torch.float64)

    B, _, Fr, _, _ = LATENT_SHAPE
    latents = randn(*LATENT_SHAPE)
    caption = randn(B, 7, cfg.caption_dim)
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0]], dtype=torch.float64)
    t = torch.tensor([TIMESTEP], dtype=torch.float64)
    perframe = torch.tensor([[0.0] * (Fr - 2) + [TIMESTEP] * 2], dtype=torch.float64)
    out = {"input.latents": latents, "input.caption": caption, "input.caption_mask": mask,
           "input.timestep": t, "input.timestep_perframe": perframe}
    with torch.no_grad():
        out["output.velocity"] = model(latents, t, caption, mask)
        out["output.velocity_causal"] = model(latents, t, caption, mask, causal_block_frames=2)
        out["output.velocity_perframe"] = model(latents, perframe, caption, mask,
                                                causal_block_frames=2)
        state = BlockState.zeros(cfg, B, 16, torch.float64)
        for f0 in range(0, Fr - 2, 2):
            _, state = model(latents[:, :, f0:f0 + 2], torch.zeros(1, dtype=torch.float64), caption,
                             mask, frame_offset=f0, state=state, update_state=True)
        out["state.layer0.win_k"] = state.layers[0].win_k[0].transpose(0, 1).reshape(-1, 64)
        last = model(latents[:, :, Fr - 2:], t, caption, mask, frame_offset=Fr - 2, state=state)
        want = out["output.velocity_perframe"][:, :, Fr - 2:]
        err = (last - want).abs().max().item()
        if err > 1e-9:
            raise SystemExit(f"reference: block-AR differs from the full forward by {err}")
    save_file({k: v.to(torch.float32).contiguous() for k, v in out.items()},
              os.path.join(args.out, "golden.safetensors"),
              {"attention": args.attention, "timestep": repr(TIMESTEP)})
    print(f"wrote {len(out)} golden tensors to {args.out}")


if __name__ == "__main__":
    main()
