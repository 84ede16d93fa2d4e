#!/usr/bin/python3
"""Writes a random Gemma-2-2B-shaped text_encoder/ (official names, transformers config) for memory and
speed measurements of the C++ encoder (bench/gemma2_memory.cc); not a test oracle.

    /usr/bin/python3 tools/reference/write_gemma2_shaped.py --out DIR [--layers 2] [--dtype bf16]

Full Gemma-2-2B widths (vocab 256000, hidden 2304, 8/4 heads of 256, MLP 9216, window 4096); only the
layer count is reduced (each layer is 77.9 M parameters, the embedding 590 M).
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref.gemma2 import Gemma2Config, Gemma2Model  # noqa: E402
from reel_ref.safetensors_io import save_file  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    args = ap.parse_args()
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    cfg = Gemma2Config(num_hidden_layers=args.layers)  # transformers' defaults = Gemma-2-2B
    g = torch.Generator().manual_seed(0)
    tensors = {}
    # Names and shapes from the reference module (vocabulary and MLP shrunk to keep it small; their
    # full shapes are set below), values drawn here in the target dtype.
    shapes = {k: tuple(v.shape) for k, v in Gemma2Model(
        Gemma2Config(vocab_size=8, hidden_size=cfg.hidden_size, intermediate_size=8,
                     num_hidden_layers=args.layers, head_dim=cfg.head_dim)).state_dict().items()}
    for name, shape in sorted(shapes.items()):
        if name == "embed_tokens.weight":
            shape = (cfg.vocab_size, cfg.hidden_size)
        elif "gate_proj" in name or "up_proj" in name:
            shape = (cfg.intermediate_size, cfg.hidden_size)
        elif "down_proj" in name:
            shape = (cfg.hidden_size, cfg.intermediate_size)
        t = torch.empty(shape, dtype=dtype)
        bound = 0.1 if "norm" in name else 1.0 / shape[-1] ** 0.5
        t.uniform_(-bound, bound, generator=g)
        tensors[name] = t
    os.makedirs(args.out, exist_ok=True)
    j = cfg.to_json()
    j["torch_dtype"] = "bfloat16" if dtype == torch.bfloat16 else "float32"
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(j, f, indent=2, sort_keys=True)
    save_file(tensors, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    print(f"wrote {sum(t.numel() for t in tensors.values()) / 1e6:.1f} M parameters to {args.out}")


if __name__ == "__main__":
    main()
