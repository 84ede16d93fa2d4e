"""Light checkpoints: the EMA weights and what export.py needs, in shards of bounded size.

A full training checkpoint (raw + EMA weights + optimizer state) of a 10 M-parameter DiT is ~170 MB;
the light one is the EMA half in float32, split so that every file stays under `shard_bytes` (the
device machine returns files of at most 16 MiB). Files: meta.pt (everything but the DiT weights,
including the text encoder) and ema_dit.<i>.pt; every file carries the step, so a set torn by a kill
mid-save is refused instead of mixed.
"""
import json
import os

import torch
from reel_ref import load_file

from reel_train.vae import VideoVAE


def _save(obj, path):
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def save_light(ck, directory, shard_bytes=12_000_000):
    """Writes ck (a train_dit checkpoint) minus raw weights and optimizer state to directory."""
    os.makedirs(directory, exist_ok=True)
    shards, size = [{}], 0
    for name, t in ck["ema_dit"].items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t.detach().cpu()
        size += nbytes
    for i, shard in enumerate(shards):
        _save({"step": ck["step"], "weights": shard}, os.path.join(directory, f"ema_dit.{i}.pt"))
    meta = {k: v for k, v in ck.items() if k not in ("dit", "te", "ema_dit", "opt")}
    meta["ema_te"] = {k: v.detach().cpu() for k, v in ck["ema_te"].items()}
    meta["shards"] = len(shards)
    _save(meta, os.path.join(directory, "meta.pt"))


def is_light(path):
    return os.path.isdir(path) and os.path.exists(os.path.join(path, "meta.pt"))


def load_light(directory):
    """The checkpoint dict saved by save_light (keys ema_dit, ema_te, step, configs, statistics)."""
    ck = torch.load(os.path.join(directory, "meta.pt"))
    ck["ema_dit"] = {}
    for i in range(ck["shards"]):
        shard = torch.load(os.path.join(directory, f"ema_dit.{i}.pt"))
        if shard["step"] != ck["step"]:
            raise ValueError(f"{directory}: shard {i} is from step {shard['step']}, meta.pt from "
                             f"step {ck['step']} (a save was interrupted)")
        ck["ema_dit"].update(shard["weights"])
    return ck


def load_vae(path, **kw):
    """A VideoVAE in eval mode from a state dict (.pt, float32) or a model's vae.safetensors."""
    vae = VideoVAE(**kw)
    if path.endswith(".safetensors"):
        vae.load_state_dict({k: v.float() for k, v in load_file(path).items()})
    else:
        vae.load_state_dict(torch.load(path))
    return vae.eval()


def load_model_vae(model_dir):
    """(VideoVAE in eval mode, latents mean, latents std) of a model directory; the statistics are
    shaped (1, z, 1, 1, 1) to normalize latents (B, z, F, H, W) as its DiT sees them."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)["vae"]
    vae = load_vae(os.path.join(model_dir, "vae.safetensors"), z=cfg["latent_channels"],
                   ch=tuple(cfg["channels"]))
    shape = (1, -1, 1, 1, 1)
    return (vae, torch.tensor(cfg["latents_mean"]).view(shape),
            torch.tensor(cfg["latents_std"]).view(shape))
