#!/usr/bin/python3
"""Trains the reel-tiny DiT (tools/reference LinearDiT) + text encoder on VAE latents of procedural clips.

Block-causal flow matching, matching the contract's state update (pipeline/model/README.md): a training
sample is a prefix of a clip's latent frames 0..b; frames < b are clean context with timestep 0, frame b
(the current block, block_frames = 1 latent frame) is noised to sigma and the loss is on it only. One
forward with `causal_block_frames=1` and per-frame timesteps equals block-AR inference with the carried
state (the reference's invariant), so training and inference see the same thing. Context frames get a
little noise (sigma_ctx ~ U(0, 0.05) half of the time, still labelled t = 0) so the model tolerates
its own imperfect earlier blocks. Captions: synonyms re-drawn every time; 10% empty (CFG).

--scheme teacher-forced (default) gives every latent frame of a clip that view in one forward: a
clean stream (the context) and a noisy stream (each frame at its own sigma) run side by side, noisy
frame f attending to the clean frames < f and itself (fast_dit.forward_teacher_forced, checked
against one reference forward per frame); the loss covers all frames. --scheme prefix is the older
scheme, one target frame per sample.

  /usr/bin/python3 tools/train/train_dit.py --vae /tmp/reel-train/vae/vae.pt --out /tmp/reel-train/dit
  # continue from a shipped model (its VAE encoder, DiT and text encoder; fresh optimizer state):
  /usr/bin/python3 tools/train/train_dit.py --init models/reel-tiny --out /tmp/reel-train/dit2 --lr 3e-4
  # continue from a shipped DiT on the latents of a new VAE (fresh latent statistics):
  /usr/bin/python3 tools/train/train_dit.py --init models/reel-tiny --vae /tmp/vae.pt --out ...
"""
import argparse
import copy
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from reel_ref import DitConfig, LinearDiT, load_config, load_file  # noqa: E402
from reel_train import data, fast_dit  # noqa: E402
from reel_train.text_encoder import TextEncoder, Tokenizer  # noqa: E402
from reel_train.vae import VideoVAE  # noqa: E402

DIT = dict(in_channels=8, out_channels=8, patch_size=[1, 2, 2], hidden_size=128, num_layers=4,
           num_heads=4, head_dim=32, cross_num_heads=4, cross_head_dim=32, caption_dim=128,
           ffn_hidden=320, norm_eps=1e-6, qk_norm_eps=1e-5, attn_eps=1e-15, rope_theta=10000.0,
           temporal_conv="causal", attention="linear", block_frames=1)
TEXT = dict(dim=128, layers=2, heads=4, mlp=256, max_tokens=32)


def encode_dataset(vae, seed, count, frames, batch=8, log=print):
    """Latent means (count, z, frames/4, 16, 16) f16 and the clips' (bg, objects) for captions."""
    lat, meta = [], []
    t0 = time.time()
    with torch.no_grad():
        for s in range(0, count, batch):
            clips = [data.sample_clip(np.random.default_rng([seed, i]), "train", frames)
                     for i in range(s, min(s + batch, count))]
            mean, _ = vae.encode(torch.from_numpy(data.to_tensor_batch(clips)))
            lat.append(mean.half())
            meta.extend((c.bg, [(o.color, o.shape, o.motion) for o in c.objects]) for c in clips)
            if (s // batch) % 50 == 0:
                log(f"encoded {s + len(clips)}/{count} {time.time() - t0:.0f}s")
    return torch.cat(lat), meta


class _Obj:  # what data._caption needs
    def __init__(self, color, shape, motion):
        self.color, self.shape, self.motion = color, shape, motion


def caption_for(rng, bg, objects):
    return data._caption(rng, bg, [_Obj(*o) for o in objects], False, rng.random() < 0.7)


def init_dit(model):
    """adaLN-zero style: blocks start as identity, output starts at zero."""
    D = model.cfg.hidden_size
    with torch.no_grad():
        for blk in model.transformer_blocks:
            blk.scale_shift_table.normal_(0, D ** -0.5)
            blk.attn1.to_out[0].weight.mul_(0.5)
        model.time_embed.linear.weight.zero_()
        model.time_embed.linear.bias.zero_()
        model.proj_out.weight.zero_()
        model.proj_out.bias.zero_()
        model.scale_shift_table.normal_(0, D ** -0.5)


def sample_sigma(rng, shape, shift):
    """Flow-matching noise levels: logit-normal u, shifted towards noise by `shift`."""
    u = torch.sigmoid(torch.from_numpy(rng.normal(0, 1, shape)).float())
    return shift * u / (1 + (shift - 1) * u)


def draw_clips(rng, batch, norm_lat, meta, tok):
    """(latents (B, z, F', H', W'), caption ids, mask): random clips, fresh synonyms, 10% empty."""
    idx = rng.integers(0, norm_lat.shape[0], batch)
    texts = [caption_for(rng, *meta[i]) if rng.random() >= 0.1 else "" for i in idx]
    ids, mask = tok.batch(texts)
    return norm_lat[torch.from_numpy(idx)], ids, mask


def noisy_context(rng, ctx):
    """Half of the samples get sigma ~ U(0, 0.05) of noise on their context (still t = 0)."""
    cs = torch.from_numpy(rng.uniform(0, 0.05, len(ctx)) * (rng.random(len(ctx)) < 0.5))
    cs = cs.float().view(-1, 1, 1, 1, 1)
    return (1 - cs) * ctx + cs * torch.from_numpy(rng.standard_normal(ctx.shape)).float()


def teacher_forced_loss(args, rng, dit, te, tok, norm_lat, meta):
    """Every latent frame is a target at its own sigma, the clean frames before it as context."""
    x0, ids, mask = draw_clips(rng, args.batch, norm_lat, meta, tok)
    sigma = sample_sigma(rng, (args.batch, x0.shape[2]), args.flow_shift)
    noise = torch.from_numpy(rng.standard_normal(x0.shape)).float()
    s = sigma[:, None, :, None, None]
    v = fast_dit.forward_teacher_forced(dit, noisy_context(rng, x0), (1 - s) * x0 + s * noise,
                                        1000 * sigma, te(ids, mask), mask)
    return F.mse_loss(v, noise - x0)


def prefix_loss(args, rng, dit, te, tok, norm_lat, meta):
    """The older scheme: one target frame b per sample, frames < b as clean context. -> (loss, b)"""
    nframes = norm_lat.shape[2]
    # Current block b: the first 4 latent frames (a default 16-frame video) 75% of the time.
    b = int(rng.integers(0, min(4, nframes) if rng.random() < 0.75 else nframes))
    x0, ids, mask = draw_clips(rng, args.batch, norm_lat, meta, tok)
    x0 = x0[:, :, :b + 1]
    sigma = sample_sigma(rng, args.batch, args.flow_shift)
    noise = torch.from_numpy(rng.standard_normal(x0[:, :, b:].shape)).float()
    s = sigma.view(-1, 1, 1, 1, 1)
    x = torch.cat([noisy_context(rng, x0[:, :, :b]), (1 - s) * x0[:, :, b:] + s * noise], dim=2)
    t = torch.zeros(args.batch, b + 1)
    t[:, b] = 1000 * sigma
    v = fast_dit.forward(dit, x, t, te(ids, mask), mask, 1)  # == dit(..., causal_block_frames=1)
    return F.mse_loss(v[:, :, b:], noise - x0[:, :, b:]), b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vae", help="VAE state dict (.pt); default: the --init model's vae.safetensors")
    ap.add_argument("--init", help="model directory to continue from (DiT, text encoder, VAE, latent stats)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--clips", type=int, default=3000)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--max-minutes", type=float, default=70)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--flow-shift", type=float, default=3.0,
                    help="shift of the training noise levels (> 1: more time at high noise)")
    ap.add_argument("--scheme", choices=["teacher-forced", "prefix"], default="teacher-forced")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    log_f = open(os.path.join(args.out, "train.log"), "a")

    def log(msg):
        print(msg, flush=True)
        log_f.write(msg + "\n")
        log_f.flush()

    if not args.vae and not args.init:
        ap.error("--vae or --init is required")
    vae_path = args.vae or os.path.join(args.init, "vae.safetensors")
    vae = VideoVAE()
    if vae_path.endswith(".safetensors"):
        vae.load_state_dict({k: v.float() for k, v in load_file(vae_path).items()})
    else:
        vae.load_state_dict(torch.load(vae_path))
    vae.eval()
    import hashlib
    with open(vae_path, "rb") as f:
        vae_id = hashlib.sha1(f.read()).hexdigest()[:10]  # latents belong to one encoder
    cache = os.path.join(args.out, f"latents_{args.clips}_{args.frames}_{vae_id}.pt")
    if os.path.exists(cache):
        blob = torch.load(cache)
    else:
        lat, meta = encode_dataset(vae, 1000 + args.seed, args.clips, args.frames, log=log)
        flat = lat.float().transpose(0, 1).reshape(lat.shape[1], -1)
        blob = {"latents": lat, "meta": meta, "mean": flat.mean(1), "std": flat.std(1)}
        torch.save(blob, cache)
    lat, meta = blob["latents"], blob["meta"]
    lmean, lstd = blob["mean"], blob["std"]
    if args.init and not args.vae:  # the model's DiT was trained on latents normalized with these
        v = load_config(args.init).other["vae"]
        lmean, lstd = torch.tensor(v["latents_mean"]), torch.tensor(v["latents_std"])
    log(f"latents {tuple(lat.shape)} mean {lmean.numpy().round(3)} std {lstd.numpy().round(3)}")
    norm_lat = ((lat.float() - lmean.view(1, -1, 1, 1, 1)) / lstd.view(1, -1, 1, 1, 1))

    tok = Tokenizer.build(TEXT["max_tokens"])
    cfg = DitConfig(**DIT)
    dit = LinearDiT(cfg)
    init_dit(dit)
    probe = copy.deepcopy(dit)
    with torch.no_grad():
        for p in probe.parameters():
            p.add_(0.2 * torch.randn_like(p))
    log(f"fast forward vs reference rel diff {fast_dit.check(probe):.2e}, teacher-forced "
        f"{fast_dit.check_teacher_forced(probe):.2e}")
    del probe
    te = TextEncoder(len(tok.vocab), **TEXT)
    if args.init:
        for module, name in ((dit, "transformer"), (te, "text_encoder")):
            weights = load_file(os.path.join(args.init, name + ".safetensors"))
            module.load_state_dict({k: v.float() for k, v in weights.items()})
        log(f"initialized from {args.init}")
    params = list(dit.parameters()) + list(te.parameters())
    log(f"dit params {sum(p.numel() for p in dit.parameters())} text params "
        f"{sum(p.numel() for p in te.parameters())}")
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99))
    ema_dit, ema_te = copy.deepcopy(dit), copy.deepcopy(te)
    start = 1
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        dit.load_state_dict(ck["dit"]), te.load_state_dict(ck["te"])
        ema_dit.load_state_dict(ck["ema_dit"]), ema_te.load_state_dict(ck["ema_te"])
        opt.load_state_dict(ck["opt"])
        start = ck["step"] + 1
    nframes = lat.shape[2]
    t_start = time.time()
    avg = None
    step = start - 1
    for step in range(start, args.steps + 1):
        warm = min(1.0, step / 100)
        lr = args.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        rng = np.random.default_rng([args.seed, step])
        if args.scheme == "teacher-forced":
            loss, b = teacher_forced_loss(args, rng, dit, te, tok, norm_lat, meta), nframes - 1
        else:
            loss, b = prefix_loss(args, rng, dit, te, tok, norm_lat, meta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for m, e in ((dit, ema_dit), (te, ema_te)):
                for p, q in zip(m.parameters(), e.parameters()):
                    q.mul_(decay).add_(p.detach(), alpha=1 - decay)
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        elapsed = (time.time() - t_start) / 60
        if step % 25 == 0:
            log(f"step {step} loss {loss.item():.4f} avg {avg:.4f} b {b} lr {lr:.2e} {elapsed:.1f}min")
        last = step == args.steps or elapsed > args.max_minutes
        if step % 200 == 0 or last:
            ck = {"dit": dit.state_dict(), "te": te.state_dict(), "ema_dit": ema_dit.state_dict(),
                  "ema_te": ema_te.state_dict(), "opt": opt.state_dict(), "step": step,
                  "dit_config": DIT, "text_config": TEXT, "latents_mean": lmean, "latents_std": lstd,
                  "avg_loss": avg, "args": vars(args)}
            torch.save(ck, ckpt_path + ".tmp")
            os.replace(ckpt_path + ".tmp", ckpt_path)
            log(f"saved step {step}")
        if last:
            break
    log(f"done step {step} avg_loss {avg}")


if __name__ == "__main__":
    main()
