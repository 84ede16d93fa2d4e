#!/usr/bin/python3
"""Random-weight VAE decoder and text encoder checkpoints plus golden outputs for the C++ tests
(tests/model/vae_decoder_test.cc, tests/model/text_encoder_test.cc).

The outputs come from the PyTorch reference modules (reel_train/vae.py, reel_train/text_encoder.py), run
in float64 on the float32-rounded weights, so they are an oracle for the C++ f32 engine.

Writes into --out:
  vae.json             the config.json `vae` section
  vae.safetensors      encoder.* and decoder.* (f32), as train_vae.py saves them
  vae_golden.safetensors
      latents_n  (z, F, h, w)  normalized latents (what the DiT produces)
      pixels     (3, 4F, 4h, 4w) decode(latents_n * std + mean), clamped to [-1, 1]
      pixels_raw (3, 4F, 4h, 4w) the same before clamping
  text_encoder.json    the config.json `text_encoder` section
  text_encoder.safetensors
  tokenizer.json
  text_golden.json     [{"prompt", "ids", "mask"}] for every prompt
  text_golden.safetensors  hidden_<i> (max_tokens, dim) for prompt i

Usage: /usr/bin/python3 tools/train/make_cpp_golden.py --out DIR
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_train import text_encoder as te  # noqa: E402
from reel_train import vae as vae_mod  # noqa: E402

# Prompts covering the tokenizer rules: case, punctuation, digits, non-ASCII bytes, unknown words, the
# empty prompt (the CFG unconditional branch) and one longer than max_tokens (truncation).
PROMPTS = [
    "a red circle moves left on a black background",
    "A RED Circle!!, moves-left...on a black background",
    "a zebra dances on a purple xylophone",
    "",
    "   ,,, 123 !!",
    "caf\u00e9 na\u00efve blue square",
    "a red circle and a blue square and a green triangle move right and up on a white background",
]
MAX_TOKENS = 12


def write_safetensors(path, tensors):
    """Minimal safetensors writer (f32 only): header length, JSON header padded to 8 bytes, data."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().cpu().numpy().astype("<f4"))
        data = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def randomize_norms(module, gen):
    """Gammas/LayerNorm affine parameters away from their (1, 0) init, so a missed one shows."""
    for name, p in module.named_parameters():
        if name.endswith("gamma") or ("norm" in name and name.endswith("weight")):
            p.data = 1.0 + 0.3 * torch.randn(p.shape, generator=gen)
        elif "norm" in name and name.endswith("bias"):
            p.data = 0.1 * torch.randn(p.shape, generator=gen)


def make_vae(out, gen):
    z, ch = 8, (16, 32, 64)
    torch.manual_seed(1234)
    model = vae_mod.VideoVAE(z=z, ch=ch)
    randomize_norms(model, gen)
    for name, p in model.named_parameters():
        if name.endswith("bias") and "norm" not in name:
            p.data = 0.05 * torch.randn(p.shape, generator=gen)
    # Push some output pixels past [-1, 1] so the clamp is exercised, while most stay inside it (a
    # clamped pixel hides errors).
    model.decoder.conv_out.weight.data *= 3.0
    mean = 0.5 * torch.randn(z, generator=gen)
    std = 0.5 + torch.rand(z, generator=gen)
    cfg = {"type": "reel-causal-vae", "latent_channels": z, "channels": list(ch), "spatial_factor": 4,
           "temporal_factor": 4, "rms_eps": vae_mod.RMS_EPS,
           "latents_mean": [float(v) for v in mean.to(torch.float32)],
           "latents_std": [float(v) for v in std.to(torch.float32)]}
    with open(os.path.join(out, "vae.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    sd = {k: v.to(torch.float32) for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(out, "vae.safetensors"), sd)

    frames, h, w = 3, 4, 6
    latents_n = torch.randn(z, frames, h, w, generator=gen).to(torch.float32)
    model = model.double()
    with torch.no_grad():
        mean64 = torch.tensor(cfg["latents_mean"], dtype=torch.float64).view(-1, 1, 1, 1)
        std64 = torch.tensor(cfg["latents_std"], dtype=torch.float64).view(-1, 1, 1, 1)
        lat = latents_n.double() * std64 + mean64
        raw = model.decode(lat[None])[0]
        # The streaming path of the reference must agree with its full decode (VAE.md invariant).
        stream = model.decode_streaming(lat[None], chunk=1)[0]
        assert (stream - raw).abs().max().item() < 1e-9
    inside = (raw.abs() < 1).double().mean().item()
    assert 0.6 < inside < 0.98, f"{inside:.2f} of the golden pixels are inside [-1, 1]"
    write_safetensors(os.path.join(out, "vae_golden.safetensors"),
                      {"latents_n": latents_n, "pixels": raw.clamp(-1, 1), "pixels_raw": raw})


def make_text(out, gen):
    tok = te.Tokenizer.build(max_tokens=MAX_TOKENS)
    tok.save(os.path.join(out, "tokenizer.json"))
    dim, layers, heads, mlp = 32, 2, 4, 64
    torch.manual_seed(4321)
    model = te.TextEncoder(len(tok.vocab), dim=dim, layers=layers, heads=heads, mlp=mlp,
                           max_tokens=MAX_TOKENS)
    randomize_norms(model, gen)
    for name, p in model.named_parameters():
        if name.endswith("bias") and "norm" not in name:
            p.data = 0.1 * torch.randn(p.shape, generator=gen)
    cfg = {"type": "reel-words-transformer", "vocab_size": len(tok.vocab), "dim": dim,
           "num_layers": layers, "num_heads": heads, "mlp_hidden": mlp, "max_tokens": MAX_TOKENS,
           "norm_eps": te.LN_EPS}
    with open(os.path.join(out, "text_encoder.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    sd = {k: v.to(torch.float32) for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(out, "text_encoder.safetensors"), sd)
    model = model.double()
    records, hidden = [], {}
    ids, mask = tok.batch(PROMPTS)
    with torch.no_grad():
        hs = model(ids, mask)
    for i, p in enumerate(PROMPTS):
        records.append({"prompt": p, "ids": ids[i].tolist(), "mask": mask[i].tolist()})
        hidden[f"hidden_{i}"] = hs[i]
    with open(os.path.join(out, "text_golden.json"), "w") as f:
        json.dump(records, f, indent=1, ensure_ascii=False)
    write_safetensors(os.path.join(out, "text_golden.safetensors"), hidden)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gen = torch.Generator().manual_seed(20240607)
    make_vae(args.out, gen)
    make_text(args.out, gen)


if __name__ == "__main__":
    main()
