#!/usr/bin/python3
"""Writes a model directory (models/reel-tiny) from the VAE and DiT training checkpoints.

  /usr/bin/python3 tools/train/export.py --vae /tmp/reel-train/vae2/vae.pt \
      --dit /tmp/reel-train/dit/ckpt.pt --out models/reel-tiny [--dtype f16]

--dit may also be a light checkpoint directory (train_dit.py --light-ckpt; EMA weights only).
Without --dit, only vae.safetensors of the existing model directory --out is replaced (a decoder
fine-tuned with train_vae.py --freeze-encoder); a VAE whose encoder differs is refused, since the
DiT was trained on the latents of the encoder that is there.
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from reel_ref import (DitConfig, DiT, ModelConfig, SamplerConfig, load_file,  # noqa: E402
                      save_config, save_file)
from reel_train import checkpoint  # noqa: E402
from reel_train.text_encoder import TextEncoder, Tokenizer  # noqa: E402
from reel_train.vae import RMS_EPS  # noqa: E402

VAE_CHANNELS = [16, 32, 64]


def replace_vae(vae_path, model_dir, dtype):
    """Writes the VAE into an existing model directory whose encoder it shares (bit for bit after
    the cast to `dtype`), keeping everything else."""
    target = os.path.join(model_dir, "vae.safetensors")
    if not os.path.exists(target):
        raise SystemExit(f"{model_dir} has no vae.safetensors: pass --dit to write a whole model")
    old = load_file(target)
    new = checkpoint.load_vae(vae_path).state_dict()
    if set(old) != set(new):
        raise SystemExit(f"{vae_path} has other tensors than {target}")
    changed = [k for k in new if k.startswith("encoder.")
               and not torch.equal(new[k].to(dtype), old[k].to(dtype))]
    if changed:
        raise SystemExit(f"{vae_path} has another encoder ({changed[0]} differs): the DiT of "
                         f"{model_dir} was trained on its encoder's latents; retrain it with --dit")
    save_file({k: v.detach().to(dtype).contiguous() for k, v in new.items()}, target,
              {"weights": "vae"})
    print(json.dumps({"out": target, "bytes": os.path.getsize(target)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vae", required=True, help="VAE state dict (.pt) or a vae.safetensors")
    ap.add_argument("--dit", default="",
                    help="DiT checkpoint; without it only --out's vae.safetensors is replaced")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="f16", choices=["f16", "f32"])
    ap.add_argument("--raw", action="store_true", help="export the raw weights instead of the EMA")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg-scale", type=float, default=4.0)
    ap.add_argument("--solver", default="dpm++2m")
    ap.add_argument("--flow-shift", type=float, default=3.0)
    ap.add_argument("--name", default="reel-tiny", help="the model's name in config.json")
    args = ap.parse_args()
    dtype = torch.float16 if args.dtype == "f16" else torch.float32
    if not args.dit:
        replace_vae(args.vae, args.out, dtype)
        return
    os.makedirs(args.out, exist_ok=True)
    if checkpoint.is_light(args.dit):
        if args.raw:
            raise SystemExit(f"{args.dit} is a light checkpoint: it holds the EMA weights only")
        ck = checkpoint.load_light(args.dit)
    else:
        ck = torch.load(args.dit)
    dcfg = DitConfig(**ck["dit_config"])
    dit = DiT(dcfg)
    dit.load_state_dict(ck["dit" if args.raw else "ema_dit"])
    tcfg = ck["text_config"]
    tok = Tokenizer.build(tcfg["max_tokens"])
    te = TextEncoder(len(tok.vocab), **tcfg)
    te.load_state_dict(ck["te" if args.raw else "ema_te"])
    vae = checkpoint.load_vae(args.vae, z=dcfg.in_channels, ch=tuple(VAE_CHANNELS))

    other = {
        "vae": {"type": "reel-causal-vae", "latent_channels": dcfg.in_channels,
                "channels": VAE_CHANNELS, "spatial_factor": 4, "temporal_factor": 4,
                "rms_eps": RMS_EPS,
                "latents_mean": [round(float(x), 6) for x in ck["latents_mean"]],
                "latents_std": [round(float(x), 6) for x in ck["latents_std"]]},
        "text_encoder": {"type": "reel-words-transformer", "vocab_size": len(tok.vocab),
                         "dim": tcfg["dim"], "num_layers": tcfg["layers"],
                         "num_heads": tcfg["heads"], "mlp_hidden": tcfg["mlp"],
                         "max_tokens": tcfg["max_tokens"], "norm_eps": 1e-5},
        "video": {"width": 64, "height": 64, "frames": 16, "fps": 8},
        # The engine's default feature cache (chosen with `reel eval --suite --cache-sweep`).
        "cache": {"policy": "cg-taylor", "threshold": 0.01, "order": 2, "first_block_order": 1,
                  "warmup_steps": 3},
    }
    mcfg = ModelConfig(transformer=dcfg,
                       sampler=SamplerConfig(flow_shift=args.flow_shift, steps=args.steps,
                                             cfg_scale=args.cfg_scale, solver=args.solver),
                       name=args.name, other=other)
    save_config(mcfg, args.out)
    meta = {"trained_steps": str(ck["step"]), "weights": "raw" if args.raw else "ema"}

    def dump(sd, name):
        save_file({k: v.detach().to(dtype).contiguous() for k, v in sd.items()},
                  os.path.join(args.out, name), meta)

    dump(dit.state_dict(), "transformer.safetensors")
    dump(te.state_dict(), "text_encoder.safetensors")
    dump(vae.state_dict(), "vae.safetensors")
    tok.save(os.path.join(args.out, "tokenizer.json"))
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(json.dumps({"out": args.out, "bytes": total, "step": ck["step"]}))


if __name__ == "__main__":
    main()
