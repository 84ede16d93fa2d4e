#!/usr/bin/python3
"""Writes a synthetic SANA-Video checkpoint in the official diffusers layout (tiny shapes, random
weights, the official key names and config field names) plus broken copies of it.

    /usr/bin/python3 tools/reference/write_sana_checkpoint.py --out DIR

DIR/good: model_index.json; transformer/ (SanaVideoTransformer3DModel config.json, bf16 weights in
two shards + diffusion_pytorch_model.safetensors.index.json); scheduler/ (DPMSolverMultistepScheduler
with flow sigmas, written by json.dump as diffusers does, -Infinity included); text_encoder/
(Gemma-2, reel_ref.gemma2, bf16); tokenizer/tokenizer.model (spm_train, reel_ref.sana_prompt);
vae/ (AutoencoderKLWan, reel_ref.wan_vae, f32).
DIR/<fault>: the same with one fault each: wrong_shape, missing_tensor, truncated_shard,
missing_shard, unknown_field.

    /usr/bin/python3 tools/reference/write_sana_checkpoint.py --transformer-2b DIR

DIR/transformer only, with the released 2B shapes (hidden 2240, 20 layers, mlp_ratio 3, caption
2304) and random bf16 weights in ~1 GB shards (~4.2 GB; for bench/checkpoint_memory.sh). Tensors are
drawn one at a time, so the writer never holds the model in f32.
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref import wan_vae  # noqa: E402
from reel_ref.gemma2 import small_gemma2_config, write_random_text_encoder  # noqa: E402
from reel_ref.safetensors_io import load_file, save_file  # noqa: E402
from reel_ref.sana_prompt import SANA_VIDEO_CHI, train_tokenizer  # noqa: E402
from reel_ref.testing import random_model, small_config  # noqa: E402

Z_DIM = 4
SAMPLE_SIZE = 4  # latent tokens per side → a 4·2·8 = 64-pixel default square
CORPUS = SANA_VIDEO_CHI + [
    "A small fluffy white cat sleeping on a warm sunny windowsill.",
    "A red circle moves to the right over a blue background, motion score: 30.",
    "The camera slowly pans across a forest; golden light filters through the leaves.",
]
SHARD = "diffusion_pytorch_model-{:05d}-of-{:05d}.safetensors"
INDEX = "diffusion_pytorch_model.safetensors.index.json"


def transformer_config(cfg) -> dict:
    """transformer/config.json as diffusers writes it for SanaVideoTransformer3DModel."""
    return {
        "_class_name": "SanaVideoTransformer3DModel", "_diffusers_version": "0.36.0.dev0",
        "in_channels": cfg.in_channels, "out_channels": cfg.out_channels,
        "num_attention_heads": cfg.num_heads, "attention_head_dim": cfg.head_dim,
        "num_layers": cfg.num_layers, "num_cross_attention_heads": cfg.cross_num_heads,
        "cross_attention_head_dim": cfg.cross_head_dim, "cross_attention_dim": cfg.hidden_size,
        "caption_channels": cfg.caption_dim, "mlp_ratio": cfg.ffn_hidden / cfg.hidden_size,
        "dropout": 0.0, "attention_bias": False, "sample_size": SAMPLE_SIZE,
        "patch_size": list(cfg.patch_size), "norm_elementwise_affine": False,
        "norm_eps": cfg.norm_eps, "interpolation_scale": None, "guidance_embeds": False,
        "guidance_embeds_scale": 0.1, "qk_norm": "rms_norm_across_heads",
        "rope_max_seq_len": cfg.rope_max_seq_len,
    }


def scheduler_config() -> dict:
    """scheduler/config.json of the converter's "flow-dpm_solver" (every field diffusers saves)."""
    return {
        "_class_name": "DPMSolverMultistepScheduler", "_diffusers_version": "0.36.0.dev0",
        "algorithm_type": "dpmsolver++", "beta_end": 0.02, "beta_schedule": "linear",
        "beta_start": 0.0001, "dynamic_thresholding_ratio": 0.995, "euler_at_final": False,
        "final_sigmas_type": "zero", "flow_shift": 8.0, "lambda_min_clipped": float("-inf"),
        "lower_order_final": True, "num_train_timesteps": 1000,
        "prediction_type": "flow_prediction", "rescale_betas_zero_snr": False,
        "sample_max_value": 1.0, "solver_order": 2, "solver_type": "midpoint", "steps_offset": 0,
        "thresholding": False, "time_shift_type": "exponential", "timestep_spacing": "linspace",
        "trained_betas": None, "use_beta_sigmas": False, "use_dynamic_shifting": False,
        "use_exponential_sigmas": False, "use_flow_sigmas": True, "use_karras_sigmas": False,
        "use_lu_lambdas": False, "variance_type": None,
    }


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)  # -Infinity as Python (and diffusers) write it


def write_sharded(tensors: dict, directory: str, shards: int):
    names = sorted(tensors)
    per = (len(names) + shards - 1) // shards
    weight_map, total = {}, 0
    for s in range(shards):
        part = {n: tensors[n] for n in names[s * per:(s + 1) * per]}
        file = SHARD.format(s + 1, shards)
        save_file(part, os.path.join(directory, file), metadata={"format": "pt"})
        for n, t in part.items():
            weight_map[n] = file
            total += t.numel() * t.element_size()
    write_json(os.path.join(directory, INDEX),
               {"metadata": {"total_size": total}, "weight_map": weight_map})


def write_good(out: str, seed: int):
    os.makedirs(os.path.join(out, "tokenizer"), exist_ok=True)
    model_path = train_tokenizer(os.path.join(out, "tokenizer", "tokenizer"), CORPUS, 400)
    os.unlink(os.path.join(out, "tokenizer", "tokenizer.vocab"))
    import sentencepiece as spm
    vocab = spm.SentencePieceProcessor(model_file=model_path).get_piece_size()
    gcfg = small_gemma2_config(vocab_size=vocab)
    write_random_text_encoder(os.path.join(out, "text_encoder"), gcfg, seed=seed,
                              dtype=torch.bfloat16)

    cfg = small_config(temporal_conv="centered", in_channels=Z_DIM, out_channels=Z_DIM,
                       caption_dim=gcfg.hidden_size)
    dit = random_model(cfg, seed=seed + 1)
    tdir = os.path.join(out, "transformer")
    os.makedirs(tdir, exist_ok=True)
    write_json(os.path.join(tdir, "config.json"), transformer_config(cfg))
    write_sharded({k: v.detach().to(torch.bfloat16).contiguous()
                   for k, v in dit.state_dict().items()}, tdir, shards=2)

    wan_vae.write_random_vae_dir(os.path.join(out, "vae"), wan_vae.small_config(z_dim=Z_DIM),
                                 seed=seed + 2)
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    write_json(os.path.join(out, "scheduler", "config.json"), scheduler_config())
    write_json(os.path.join(out, "model_index.json"), {
        "_class_name": "SanaVideoPipeline", "_diffusers_version": "0.36.0.dev0",
        "scheduler": ["diffusers", "DPMSolverMultistepScheduler"],
        "text_encoder": ["transformers", "Gemma2Model"],
        "tokenizer": ["transformers", "GemmaTokenizerFast"],
        "transformer": ["diffusers", "SanaVideoTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLWan"],
    })


def shard_path(d, i):
    return os.path.join(d, "transformer", SHARD.format(i, 2))


def shard_of(d, name):
    with open(os.path.join(d, "transformer", INDEX)) as f:
        return os.path.join(d, "transformer", json.load(f)["weight_map"][name])


def rewrite_shard(path, edit):
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def break_copies(out: str):
    good = os.path.join(out, "good")

    def copy(name):
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(good, d)
        return d

    d = copy("wrong_shape")  # proj_out.weight (16 → 8 rows)
    rewrite_shard(shard_of(d, "proj_out.weight"),
                  lambda t: t.update({"proj_out.weight": t["proj_out.weight"][:8].contiguous()}))

    d = copy("missing_tensor")  # gone from shard and index alike: the index stays consistent
    rewrite_shard(shard_of(d, "proj_out.bias"), lambda t: t.pop("proj_out.bias"))
    index_path = os.path.join(d, "transformer", INDEX)
    with open(index_path) as f:
        index = json.load(f)
    del index["weight_map"]["proj_out.bias"]
    write_json(index_path, index)

    d = copy("truncated_shard")  # an interrupted download
    size = os.path.getsize(shard_path(d, 1))
    with open(shard_path(d, 1), "r+b") as f:
        f.truncate(size - 100)

    d = copy("missing_shard")
    os.unlink(shard_path(d, 2))

    d = copy("unknown_field")
    path = os.path.join(d, "transformer", "config.json")
    with open(path) as f:
        config = json.load(f)
    config["use_magic_attention"] = True
    write_json(path, config)


def write_transformer_2b(out: str, seed: int):
    from reel_ref.config import DitConfig
    from reel_ref.dit import DiT
    layers = 20
    full = dict(in_channels=16, out_channels=16, patch_size=[1, 2, 2], hidden_size=2240,
                num_layers=layers, num_heads=20, head_dim=112, cross_num_heads=20,
                cross_head_dim=112, caption_dim=2304, ffn_hidden=6720, temporal_conv="centered")
    # Names and shapes from a one-block model (0.5 GB in f32), block 0 repeated.
    one = DiT(DitConfig(**dict(full, num_layers=1)).validate())
    shapes = {}
    for name, t in one.state_dict().items():
        if name.startswith("transformer_blocks.0."):
            for i in range(layers):
                shapes[name.replace(".0.", f".{i}.", 1)] = tuple(t.shape)
        else:
            shapes[name] = tuple(t.shape)
    del one
    tdir = os.path.join(out, "transformer")
    os.makedirs(tdir, exist_ok=True)
    write_json(os.path.join(tdir, "config.json"),
               dict(transformer_config(DitConfig(**full).validate()), sample_size=30))
    g = torch.Generator().manual_seed(seed)
    names = sorted(shapes)
    groups, current, size = [], [], 0
    for n in names:  # ~1 GB shards
        current.append(n)
        size += 2 * math.prod(shapes[n])
        if size > (1 << 30):
            groups.append(current)
            current, size = [], 0
    if current:
        groups.append(current)
    weight_map, total = {}, 0
    for s, group in enumerate(groups):
        tensors = {}
        for n in group:
            shape = shapes[n]
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
            t = torch.randn(shape, generator=g) / math.sqrt(fan_in)
            tensors[n] = (t + 1.0 if "norm" in n else t).to(torch.bfloat16)
            total += 2 * t.numel()
        file = SHARD.format(s + 1, len(groups))
        save_file(tensors, os.path.join(tdir, file), metadata={"format": "pt"})
        weight_map.update({n: file for n in group})
        print(f"  {file}: {len(group)} tensors", flush=True)
    write_json(os.path.join(tdir, INDEX), {"metadata": {"total_size": total},
                                           "weight_map": weight_map})
    print(f"{len(names)} tensors, {total / 2 ** 30:.2f} GiB of bf16 in {tdir}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--transformer-2b", metavar="DIR")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    start = time.time()
    torch.set_num_threads(1)
    if args.transformer_2b:
        write_transformer_2b(args.transformer_2b, args.seed)
        return
    if not args.out:
        ap.error("--out or --transformer-2b is required")
    good = os.path.join(args.out, "good")
    shutil.rmtree(good, ignore_errors=True)
    write_good(good, args.seed)
    break_copies(args.out)
    print(f"wrote the synthetic SANA-Video checkpoint and 5 broken copies to {args.out} in "
          f"{time.time() - start:.2f} s")


if __name__ == "__main__":
    main()
