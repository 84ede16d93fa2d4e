#!/usr/bin/python3
"""Trains the reel-tiny DiT (tools/reference DiT) + text encoder on VAE latents of procedural clips.

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
  # a new DiT of another size beside the shipped text encoder, on a GPU (see gpu_train_dit.sh):
  python3 tools/train/train_dit.py --init models/reel-tiny --fresh-dit --hidden-size 256 \
      --layers 8 --device cuda --workers 15 --batch 32 --out ... --light-ckpt OUT/ckpt
"""
import argparse
import copy
import hashlib
import math
import multiprocessing
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from reel_ref import DitConfig, DiT, load_config, load_file  # noqa: E402
from reel_train import checkpoint, data, fast_dit  # noqa: E402
from reel_train.text_encoder import TextEncoder, Tokenizer  # noqa: E402
from reel_train.vae import pixels_to_input  # noqa: E402

DIT = dict(in_channels=8, out_channels=8, patch_size=[1, 2, 2], hidden_size=128, num_layers=4,
           num_heads=4, head_dim=32, cross_num_heads=4, cross_head_dim=32, caption_dim=128,
           ffn_hidden=320, norm_eps=1e-6, qk_norm_eps=1e-5, attn_eps=1e-15, rope_theta=10000.0,
           temporal_conv="causal", attention="linear", block_frames=1)
TEXT = dict(dim=128, layers=2, heads=4, mlp=256, max_tokens=32)


def _render_clip(key):
    """Clip (seed, i) of the train split: (uint8 video (F, H, W, 3), bg, object triples)."""
    seed, i, frames = key
    c = data.sample_clip(np.random.default_rng([seed, i]), "train", frames)
    return c.video, c.bg, [(o.color, o.shape, o.motion) for o in c.objects]


def encode_dataset(vae, seed, count, frames, device, workers=1, batch=8, log=print):
    """Latent means (count, z, frames/4, 16, 16) f16 on `device` and the clips' (bg, objects) for
    captions. Clips are rendered by `workers` processes (clip i depends only on (seed, i)); they
    fork before the VAE moves to the device, so no child inherits a CUDA context."""
    lat, meta, videos = [], [], []
    t0 = time.time()
    keys = [(seed, i, frames) for i in range(count)]
    pool = multiprocessing.Pool(workers) if workers > 1 else None
    vae = vae.to(device)
    clips = pool.imap(_render_clip, keys, chunksize=8) if pool else map(_render_clip, keys)

    def flush():
        # uint8 to the device, converted there: a quarter of the bytes of float32 over the bus
        x = pixels_to_input(torch.from_numpy(np.stack(videos)).to(device))
        lat.append(vae.encode(x)[0].half())
        videos.clear()

    with torch.no_grad():
        for i, (video, bg, objects) in enumerate(clips):
            videos.append(video)
            meta.append((bg, objects))
            if len(videos) == batch:
                flush()
            if (i + 1) % (50 * batch) == 0:
                log(f"encoded {i + 1}/{count} {time.time() - t0:.0f}s")
        if videos:
            flush()
    if pool:
        pool.close()
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


def sample_sigma(rng, shape, shift, device):
    """Flow-matching noise levels: logit-normal u, shifted towards noise by `shift`."""
    u = torch.sigmoid(torch.from_numpy(rng.normal(0, 1, shape)).float())
    return (shift * u / (1 + (shift - 1) * u)).to(device)


def draw_clips(rng, batch, norm_lat, meta, tok):
    """(latents (B, z, F', H', W'), caption ids, mask): random clips, fresh synonyms, 10% empty."""
    idx = rng.integers(0, norm_lat.shape[0], batch)
    texts = [caption_for(rng, *meta[i]) if rng.random() >= 0.1 else "" for i in idx]
    ids, mask = tok.batch(texts)
    dev = norm_lat.device
    return norm_lat[torch.from_numpy(idx).to(dev)], ids.to(dev), mask.to(dev)


def noisy_context(rng, gen, ctx):
    """Half of the samples get sigma ~ U(0, 0.05) of noise on their context (still t = 0)."""
    cs = torch.from_numpy(rng.uniform(0, 0.05, len(ctx)) * (rng.random(len(ctx)) < 0.5))
    cs = cs.float().view(-1, 1, 1, 1, 1).to(ctx.device)
    return (1 - cs) * ctx + cs * torch.randn(ctx.shape, generator=gen, device=ctx.device)


def model_context(rng, gen, dit, x0, caption, mask, sigma_range):
    """The model's own one-step estimate of every clean frame, x0_hat = x_t - sigma v, from the
    ground truth noised to sigma ~ U(sigma_range) with the ground-truth frames before it as context.

    Used as the context in place of the ground truth, it carries the model's kind of error (soft
    corners, a slightly wrong position) while the targets stay the ground truth, so the model learns
    to pull a drifting context back instead of copying its errors forward: block-AR generation
    conditions every block on generated blocks, teacher forcing only ever on real ones (the
    exposure bias behind long-video drift). A cheap stand-in for training on full rollouts
    (Self-Forcing): one extra forward without gradients."""
    lo, hi = sigma_range
    sigma = torch.from_numpy(rng.uniform(lo, hi, (x0.shape[0], x0.shape[2]))).float()
    sigma = sigma.to(x0.device)
    s = sigma[:, None, :, None, None]
    with torch.no_grad():
        xt = (1 - s) * x0 + s * torch.randn(x0.shape, generator=gen, device=x0.device)
        v = fast_dit.forward_teacher_forced(dit, x0, xt, 1000 * sigma, caption.detach(), mask)
        return xt - s * v


def teacher_forced_loss(args, rng, gen, dit, te, tok, norm_lat, meta):
    """Every latent frame is a target at its own sigma, the clean frames before it as context.

    With probability --short-prob a step takes the first --short-frames latent frames of
    batch x frames / short-frames clips instead, at the same cost: more of the targets that have
    little or no context, where the motion must come from the caption alone. With probability
    --self-context the context is the model's own estimate of the clips (model_context)."""
    batch, frames = args.batch, norm_lat.shape[2]
    if args.short_prob and rng.random() < args.short_prob and args.short_frames < frames:
        batch, frames = batch * frames // args.short_frames, args.short_frames
    x0, ids, mask = draw_clips(rng, batch, norm_lat, meta, tok)
    x0 = x0[:, :, :frames]
    caption = te(ids, mask)
    if args.self_context and rng.random() < args.self_context:
        context = model_context(rng, gen, dit, x0, caption, mask, args.self_context_sigma)
    else:
        context = noisy_context(rng, gen, x0)
    sigma = sample_sigma(rng, (batch, frames), args.flow_shift, x0.device)
    noise = torch.randn(x0.shape, generator=gen, device=x0.device)
    s = sigma[:, None, :, None, None]
    v = fast_dit.forward_teacher_forced(dit, context, (1 - s) * x0 + s * noise, 1000 * sigma,
                                        caption, mask)
    return F.mse_loss(v, noise - x0)


def prefix_loss(args, rng, gen, dit, te, tok, norm_lat, meta):
    """The older scheme: one target frame b per sample, frames < b as clean context. -> (loss, b)"""
    nframes = norm_lat.shape[2]
    # Current block b: the first 4 latent frames (a default 16-frame video) 75% of the time.
    b = int(rng.integers(0, min(4, nframes) if rng.random() < 0.75 else nframes))
    x0, ids, mask = draw_clips(rng, args.batch, norm_lat, meta, tok)
    x0 = x0[:, :, :b + 1]
    sigma = sample_sigma(rng, args.batch, args.flow_shift, x0.device)
    noise = torch.randn(x0[:, :, b:].shape, generator=gen, device=x0.device)
    s = sigma.view(-1, 1, 1, 1, 1)
    x = torch.cat([noisy_context(rng, gen, x0[:, :, :b]), (1 - s) * x0[:, :, b:] + s * noise],
                  dim=2)
    t = torch.zeros(args.batch, b + 1, device=x0.device)
    t[:, b] = 1000 * sigma
    v = fast_dit.forward(dit, x, t, te(ids, mask), mask, 1)  # == dit(..., causal_block_frames=1)
    return F.mse_loss(v[:, :, b:], noise - x0[:, :, b:]), b


def dit_config(hidden_size, layers):
    """The DiT at a width (a multiple of 32: heads of 32) and depth; Mix-FFN hidden 2.5 x width."""
    if hidden_size % 32:
        raise ValueError(f"--hidden-size {hidden_size} is not a multiple of the head size 32")
    return dict(DIT, hidden_size=hidden_size, num_layers=layers, num_heads=hidden_size // 32,
                cross_num_heads=hidden_size // 32, ffn_hidden=hidden_size * 5 // 2)


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vae", help="VAE state dict (.pt); default: the --init model's VAE")
    ap.add_argument("--init", help="model directory to continue from (DiT, text encoder, VAE, "
                                   "latent statistics)")
    ap.add_argument("--fresh-dit", action="store_true",
                    help="with --init: take its text encoder, VAE and latent statistics but "
                         "start a new DiT of --hidden-size / --layers")
    ap.add_argument("--hidden-size", type=int,
                    help=f"DiT width (default: the --init model's, else {DIT['hidden_size']})")
    ap.add_argument("--layers", type=int,
                    help=f"DiT depth (default: the --init model's, else {DIT['num_layers']})")
    ap.add_argument("--out", required=True)
    ap.add_argument("--light-ckpt", help="also write the EMA weights here at every save, in "
                                         "shards of <= 12 MB (reel_train/checkpoint.py); "
                                         "export.py reads it")
    ap.add_argument("--clips", type=int, default=3000)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--max-minutes", type=float, default=70,
                    help="training time limit; the learning-rate schedule ends at it or at --steps")
    ap.add_argument("--deadline-minutes", type=float,
                    help="wall-clock limit of the whole run (data preparation included): training "
                         "gets what is left of it, if less than --max-minutes")
    ap.add_argument("--save-minutes", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="processes rendering the training clips")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, or auto (cuda when available)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--flow-shift", type=float, default=3.0,
                    help="shift of the training noise levels (> 1: more time at high noise)")
    ap.add_argument("--scheme", choices=["teacher-forced", "prefix"], default="teacher-forced")
    ap.add_argument("--short-prob", type=float, default=0.0,
                    help="teacher-forced: fraction of steps on the first --short-frames latent "
                         "frames of proportionally more clips (not yet measured on the suite)")
    ap.add_argument("--short-frames", type=int, default=4,
                    help="latent frames of a short step (4 = the default 16-frame video)")
    ap.add_argument("--self-context", type=float, default=0.0,
                    help="teacher-forced: fraction of steps whose context is the model's own "
                         "one-step estimate of the clip instead of the clip (against long-video "
                         "drift; one extra forward without gradients; not yet measured)")
    ap.add_argument("--attention", choices=["linear", "sparse_linear", "softmax"],
                    help="the DiT's attention kind (default: the --init model's). From a linear "
                         "model, sparse_linear adds the exact branch through proj_s, zero at "
                         "first, so training starts exactly at the --init model")
    ap.add_argument("--attention-window", type=int,
                    help="video blocks the exact branch sees, the current one included")
    ap.add_argument("--sla-topk", type=float, help="share of key tiles sparse_linear keeps")
    ap.add_argument("--sla-tile", type=int, help="query and key tile of sparse_linear, tokens")
    ap.add_argument("--self-context-sigma", type=float, nargs=2, default=[0.2, 0.6],
                    metavar=("LO", "HI"),
                    help="noise range of that estimate: higher = larger context errors")
    args = ap.parse_args()
    if not 0 <= args.self_context_sigma[0] <= args.self_context_sigma[1] <= 1:
        ap.error("--self-context-sigma needs 0 <= LO <= HI <= 1")
    if not args.vae and not args.init:
        ap.error("--vae or --init is required")
    if args.fresh_dit and not args.init:
        ap.error("--fresh-dit needs --init")
    if args.init and not args.fresh_dit:
        shipped = load_config(args.init).transformer
        if (args.hidden_size or shipped.hidden_size, args.layers or shipped.num_layers) != (
                shipped.hidden_size, shipped.num_layers):
            ap.error(f"{args.init} has a DiT of width {shipped.hidden_size} and depth "
                     f"{shipped.num_layers}; pass --fresh-dit to start a new one")
        args.dit_config = {k: getattr(shipped, k) for k in DIT}
    else:
        try:
            args.dit_config = dit_config(args.hidden_size or DIT["hidden_size"],
                                         args.layers or DIT["num_layers"])
        except ValueError as e:
            ap.error(str(e))
    overrides = {"attention": args.attention, "attention_window": args.attention_window,
                 "sla_topk": args.sla_topk, "sla_tile_q": args.sla_tile, "sla_tile_k": args.sla_tile}
    if args.init and not args.fresh_dit:
        for k in ("attention_window", "sla_topk", "sla_tile_q", "sla_tile_k"):
            args.dit_config[k] = getattr(shipped, k)
    args.dit_config.update({k: v for k, v in overrides.items() if v is not None})
    try:
        DitConfig(**args.dit_config).validate()
    except ValueError as e:
        ap.error(str(e))
    if args.short_frames < 1:
        ap.error("--short-frames must be at least 1")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def latents_of(args, device, log):
    """(normalized latents on device, clip meta, mean, std): encoded once, cached in --out."""
    vae_path = args.vae or os.path.join(args.init, "vae.safetensors")
    with open(vae_path, "rb") as f:
        vae_id = hashlib.sha1(f.read()).hexdigest()[:10]  # latents belong to one encoder
    cache = os.path.join(args.out, f"latents_{args.clips}_{args.frames}_s{args.seed}_{vae_id}.pt")
    if os.path.exists(cache):
        blob = torch.load(cache)
    else:
        vae = checkpoint.load_vae(vae_path)
        lat, meta = encode_dataset(vae, 1000 + args.seed, args.clips, args.frames, device,
                                   workers=args.workers, batch=32 if device.type == "cuda" else 8,
                                   log=log)
        lat = lat.cpu()
        flat = lat.float().transpose(0, 1).reshape(lat.shape[1], -1)
        blob = {"latents": lat, "meta": meta, "mean": flat.mean(1), "std": flat.std(1)}
        torch.save(blob, cache)
    lat, meta = blob["latents"], blob["meta"]
    lmean, lstd = blob["mean"], blob["std"]
    if args.init and not args.vae:  # the model's DiT was trained on latents normalized with these
        v = load_config(args.init).other["vae"]
        lmean, lstd = torch.tensor(v["latents_mean"]), torch.tensor(v["latents_std"])
    log(f"latents {tuple(lat.shape)} mean {lmean.numpy().round(3)} std {lstd.numpy().round(3)}")
    shape = (1, -1, 1, 1, 1)
    norm_lat = (lat.to(device).float() - lmean.view(shape).to(device)) / lstd.view(shape).to(device)
    return norm_lat, meta, lmean, lstd


def build_models(args, dit_cfg, log):
    """(DiT, text encoder, tokenizer) on the CPU: fresh or from --init; the fast forward checked."""
    tok = Tokenizer.build(TEXT["max_tokens"])
    dit = DiT(DitConfig(**dit_cfg))
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
        parts = [(te, "text_encoder")] + ([] if args.fresh_dit else [(dit, "transformer")])
        for module, name in parts:
            weights = load_file(os.path.join(args.init, name + ".safetensors"))
            missing, unexpected = module.load_state_dict({k: v.float() for k, v in weights.items()},
                                                         strict=False)
            # A linear model grown into sparse_linear lacks only the zero-initialized proj_s.
            missing = [k for k in missing if ".attn1.proj_s." not in k]
            if missing or unexpected:
                raise SystemExit(f"{args.init}/{name}: missing {missing}, unexpected {unexpected}")
        log(f"initialized {', '.join(n for _, n in parts)} from {args.init}")
    return dit, te, tok


def main():
    t_process = time.time()
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda":  # TF32 matrix products: ~1e-3 relative, plenty for training
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True  # fixed shapes from step to step
    os.makedirs(args.out, exist_ok=True)
    log_f = open(os.path.join(args.out, "train.log"), "a")

    def log(msg):
        print(msg, flush=True)
        log_f.write(msg + "\n")
        log_f.flush()

    log(f"device {device}" + (f" ({torch.cuda.get_device_name(device)})"
                              if device.type == "cuda" else f", {args.threads} threads"))
    dit_cfg = args.dit_config
    dit, te, tok = build_models(args, dit_cfg, log)
    norm_lat, meta, lmean, lstd = latents_of(args, device, log)
    dit, te = dit.to(device), te.to(device)
    params = list(dit.parameters()) + list(te.parameters())
    log(f"dit params {sum(p.numel() for p in dit.parameters())} text params "
        f"{sum(p.numel() for p in te.parameters())}")
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99))
    ema_dit, ema_te = copy.deepcopy(dit), copy.deepcopy(te)
    ema_params = list(ema_dit.parameters()) + list(ema_te.parameters())
    start = 1
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=device)
        dit.load_state_dict(ck["dit"]), te.load_state_dict(ck["te"])
        ema_dit.load_state_dict(ck["ema_dit"]), ema_te.load_state_dict(ck["ema_te"])
        opt.load_state_dict(ck["opt"])
        start = ck["step"] + 1
    nframes = norm_lat.shape[2]
    t_start = last_save = time.time()
    if args.deadline_minutes:
        left = args.deadline_minutes - (t_start - t_process) / 60
        args.max_minutes = min(args.max_minutes, max(left, 0.5))
        log(f"training for at most {args.max_minutes:.2f} min")
    losses, avg = [], None
    step = start - 1
    for step in range(start, args.steps + 1):
        # The cosine ends at --steps or at --max-minutes, whichever comes first.
        progress = max(step / args.steps, (time.time() - t_start) / 60 / args.max_minutes)
        warm = min(1.0, step / args.warmup)
        lr = args.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))
        for g in opt.param_groups:
            g["lr"] = lr
        rng = np.random.default_rng([args.seed, step])
        gen = torch.Generator(device=device).manual_seed(int(rng.integers(2 ** 62)))
        if args.scheme == "teacher-forced":
            loss = teacher_forced_loss(args, rng, gen, dit, te, tok, norm_lat, meta)
            b = nframes - 1
        else:
            loss, b = prefix_loss(args, rng, gen, dit, te, tok, norm_lat, meta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_mul_(ema_params, decay)
            torch._foreach_add_(ema_params, [p.detach() for p in params], alpha=1 - decay)
        losses.append(loss.detach())
        last = step == args.steps or progress >= 1.0
        if step % 25 == 0 or last:  # one device sync per 25 steps
            avg = torch.stack(losses).mean().item()
            losses.clear()
            log(f"step {step} loss {loss.item():.4f} avg {avg:.4f} b {b} lr {lr:.2e} "
                f"{(time.time() - t_start) / 60:.1f}min")
        if time.time() - last_save >= 60 * args.save_minutes or last:
            ck = {"dit": dit.state_dict(), "te": te.state_dict(), "ema_dit": ema_dit.state_dict(),
                  "ema_te": ema_te.state_dict(), "opt": opt.state_dict(), "step": step,
                  "dit_config": dit_cfg, "text_config": TEXT, "latents_mean": lmean,
                  "latents_std": lstd, "avg_loss": avg, "args": vars(args)}
            torch.save(ck, ckpt_path + ".tmp")
            os.replace(ckpt_path + ".tmp", ckpt_path)
            if args.light_ckpt:
                checkpoint.save_light(ck, args.light_ckpt)
            last_save = time.time()
            log(f"saved step {step}")
        if last:
            break
    log(f"done step {step} avg_loss {avg}")


if __name__ == "__main__":
    main()
