#!/usr/bin/python3
"""The PyTorch side-by-side baseline of issue 19: reel_ref.dit.DiT (the reference model itself) with
random weights, timed on one device.

    python3 tools/gpu/torch_baseline.py --device cuda --out $OUT/torch_baseline.json   # H200: ~2 min
    /usr/bin/python3 tools/gpu/torch_baseline.py --device cpu --shape tiny --steps-timed 1

Measurements (tools/gpu/README.md says what each figure means):
  gemm_peak           bf16 and f32 (TF32 off) torch.mm of n x n x n, TFLOP/s
  bidirectional_480p  one CFG step (cond + uncond batched) of 81 frames at 480x832, ms/step and
                      seconds per 50-step video (extrapolated from --steps-timed steps)
  bidirectional_720p  the same at 720x1280 (an OOM is reported, not fatal)
  long_480p           block-autoregressive chunks of 10 latent frames, 4 steps, no CFG, with the
                      state-update pass: generated frames per second
  bidirectional_480p_compiled  (--compile only) the 480p step through torch.compile
The JSON (one object, --out) is rewritten after every measurement, so a run stopped by a time limit
keeps what it measured; --budget-seconds stops starting new measurements.
"""
import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import baseline_model as bm  # noqa: E402
from dit_flops import dit_forward_flops  # noqa: E402

CASES = ["gemm_peak", "bidirectional_480p", "long_480p", "bidirectional_720p"]
GROUPS = {"bidirectional": ["bidirectional_480p", "bidirectional_720p"], "long": ["long_480p"],
          "compile": ["bidirectional_480p_compiled"]}
DTYPES = {"bf16": torch.bfloat16, "f32": torch.float32}
CFG_SCALE = 6.0
VIDEO_STEPS = 50
LONG_STEPS = 4
GIB = float(1 << 30)


class Clock:
    """Wall time of `fn()` in ms: CUDA events around it on a GPU (after a sync), else the host clock."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def ms(self, fn):
        if self.cuda:
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end), out
        t0 = time.perf_counter()
        out = fn()
        return (time.perf_counter() - t0) * 1e3, out


class Budget:
    def __init__(self, seconds: float):
        self.start, self.seconds = time.monotonic(), seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def over(self) -> bool:
        return self.elapsed() > self.seconds


def timed_repeats(clock: Clock, fn, warmup: int, repeats: int, budget: Budget):
    """ms of `repeats` calls after `warmup` untimed ones; stops early (after one) when over budget.
    Returns (list of ms, last output)."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        ms, out = clock.ms(fn)
        times.append(ms)
        if budget.over():
            break
    return times, out


def memory_figures(device: torch.device) -> dict:
    if device.type != "cuda":
        return {}
    return {"peak_memory_gib": torch.cuda.max_memory_allocated(device) / GIB}


def reset_memory(device: torch.device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def matmul_precision() -> str:
    try:
        return torch.get_float32_matmul_precision()
    except Exception as e:  # a torch that dropped the call must not cost the run
        return f"unknown ({describe_error(e)})"


def measure_gemm_peak(args, device, clock, budget):
    n, reps = args.gemm_size, args.gemm_repeats
    # "highest" = IEEE f32 (TF32 off), torch's default; this script never changes it.
    out = {"n": n, "matmuls_per_window": reps,
           "f32_matmul_precision": matmul_precision()}
    for key, dtype in (("bf16", torch.bfloat16), ("f32", torch.float32)):
        g = torch.Generator(device=device).manual_seed(args.seed)
        a = torch.randn(n, n, generator=g, device=device, dtype=dtype)
        b = torch.randn(n, n, generator=g, device=device, dtype=dtype)
        c = torch.empty(n, n, device=device, dtype=dtype)

        def window():
            for _ in range(reps):
                torch.mm(a, b, out=c)

        times, _ = timed_repeats(clock, window, 1, args.gemm_windows, budget)
        tflops = [2.0 * n ** 3 * reps / (ms * 1e-3) / 1e12 for ms in times]
        out[f"{key}_tflops_best"] = max(tflops)
        out[f"{key}_tflops_median"] = statistics.median(tflops)
    return out


def step_figures(times, flops: int, per: str) -> dict:
    med = statistics.median(times)
    return {f"ms_per_{per}_median": med, f"ms_per_{per}_min": min(times),
            f"{per}s_timed": len(times), f"tflop_per_{per}": flops / 1e12,
            "achieved_tflops": flops / (med * 1e-3) / 1e12}


def measure_bidirectional(case, model, shape, args, device, clock, budget, forward=None):
    cfg = model.cfg
    frames, height, width = shape.bidirectional[case.replace("_compiled", "")]
    latent = bm.latent_shape(cfg, frames, height, width)
    g = torch.Generator().manual_seed(args.seed + 1)
    x = torch.randn((1,) + latent, generator=g).to(device, model.scale_shift_table.dtype)
    caption, mask = bm.caption_inputs(cfg, shape.caption_tokens, device, x.dtype, args.seed + 2)
    sigmas = bm.sampler.sigma_schedule(VIDEO_STEPS, bm.SamplerConfig().flow_shift)
    step = bm.CfgStep(model, x, caption, mask, CFG_SCALE, sigmas[1], sigmas[2])
    out = {"video_frames": frames, "video_size_hw": [height, width], "latent_shape": list(latent),
           "batch": 2, "cfg_scale": CFG_SCALE}
    if forward is not None:  # torch.compile: the first call compiles
        compile_ms, _ = clock.ms(lambda: step(forward))
        out["compile_and_first_step_seconds"] = compile_ms / 1e3
    tf, tr, tc = bm.token_grid(cfg, latent)
    out["tokens_per_branch"] = tf * tr * tc
    times, v = timed_repeats(clock, lambda: step(forward), args.warmup, args.steps_timed, budget)
    flops = dit_forward_flops(cfg, 2, tf, tr, tc, shape.caption_tokens)["total"]
    out.update(step_figures(times, flops, "step"))
    out["seconds_per_video_50_steps"] = out["ms_per_step_median"] * VIDEO_STEPS / 1e3
    out["note"] = (f"DiT only (no text encoder, no VAE); {VIDEO_STEPS} steps extrapolated from the "
                   f"median of {len(times)} timed step(s) after {args.warmup} warm-up")
    out["velocity_finite"] = bool(torch.isfinite(v).all().item())
    out.update(memory_figures(device))
    return out


def measure_long(case, model, shape, args, device, clock, budget):
    cfg = model.cfg
    height, width = shape.long_hw
    chunk = shape.long_chunk_latent_frames
    latent = (cfg.in_channels, chunk, height // bm.VAE_SPATIAL, width // bm.VAE_SPATIAL)
    tf, tr, tc = bm.token_grid(cfg, latent)
    g = torch.Generator().manual_seed(args.seed + 3)
    noise = torch.randn((1,) + latent, generator=g).to(device, model.scale_shift_table.dtype)
    caption, mask = bm.caption_inputs(cfg, shape.caption_tokens, device, noise.dtype, args.seed + 2)
    video = bm.LongVideo(model, caption[:1], mask[:1], LONG_STEPS, tf, tr * tc)
    times, x = timed_repeats(clock, lambda: video.next_chunk(noise), 1, args.chunks_timed, budget)
    forwards = LONG_STEPS + 1
    flops = forwards * dit_forward_flops(cfg, 1, tf, tr, tc, shape.caption_tokens)["total"]
    out = {"video_size_hw": [height, width], "chunk_latent_shape": list(latent),
           "steps_per_chunk": LONG_STEPS, "forwards_per_chunk": forwards, "cfg_scale": 1.0}
    out.update(step_figures(times, flops, "chunk"))
    seconds = out["ms_per_chunk_median"] / 1e3
    out["latent_frames_per_second"] = chunk / seconds
    out["video_frames_per_second"] = chunk * bm.VAE_TEMPORAL / seconds
    out["state_mib"] = video.state_bytes() / float(1 << 20)
    out["note"] = (f"DiT only; median of {len(times)} chunk(s) after 1 warm-up chunk, each "
                   f"{LONG_STEPS} steps + the state-update pass; video frames = "
                   f"{bm.VAE_TEMPORAL} x latent frames (Wan VAE temporal factor)")
    out["latents_finite"] = bool(torch.isfinite(x).all().item())
    out.update(memory_figures(device))
    return out


def describe_error(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if "out of memory" in str(e).lower():
        return "out of memory: " + text
    return f"{type(e).__name__}: {text}"


def environment(args, device, dtype, cfg, model) -> dict:
    env = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "torch_version": torch.__version__, "device": str(device), "dtype": args.dtype,
           "shape": args.shape, "config": dataclasses.asdict(cfg),
           "caption_tokens": bm.SHAPES[args.shape].caption_tokens,
           "parameters": sum(p.numel() for p in model.parameters()),
           "settings": {k: getattr(args, k) for k in ("steps_timed", "warmup", "chunks_timed",
                                                     "gemm_size", "seed", "budget_seconds",
                                                     "compile")}}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(device_name=props.name, device_memory_gib=props.total_memory / GIB,
                   cuda_version=torch.version.cuda)
    else:
        env.update(device_name=f"cpu ({torch.get_num_threads()} threads)", cuda_version=None)
    return env


def parse_args(argv=None):
    cuda = torch.cuda.is_available()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if cuda else "cpu", help="cuda, cuda:N or cpu")
    ap.add_argument("--shape", choices=sorted(bm.SHAPES), default=None,
                    help="default: sana2b on cuda, tiny on cpu")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default=None,
                    help="default: bf16 on cuda, f32 on cpu")
    ap.add_argument("--steps-timed", type=int, default=3, help="timed steps per bidirectional case")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps before them")
    ap.add_argument("--chunks-timed", type=int, default=3, help="timed chunks in long mode")
    ap.add_argument("--gemm-size", type=int, default=None, help="default: 8192 on cuda, 256 on cpu")
    ap.add_argument("--gemm-repeats", type=int, default=10, help="matmuls per timed window")
    ap.add_argument("--gemm-windows", type=int, default=5, help="timed windows (best is the peak)")
    ap.add_argument("--only", default=",".join(CASES),
                    help="comma list of " + ", ".join(CASES + sorted(GROUPS)))
    ap.add_argument("--compile", action="store_true",
                    help="also time the 480p step through torch.compile (torch >= 2)")
    ap.add_argument("--budget-seconds", type=float, default=240.0,
                    help="no new measurement starts after this many seconds (counted from "
                    "argument parsing, after torch is imported)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="JSON file (rewritten after every measurement)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not cuda:
        ap.error("--device cuda: this torch sees no CUDA device "
                 f"(torch {torch.__version__}, built with CUDA {torch.version.cuda})")
    if device.type not in ("cuda", "cpu"):
        ap.error(f"--device {args.device}: expected cuda, cuda:N or cpu")
    if device.type == "cuda":
        if device.index is None:  # torch.cuda.set_device and friends want the index
            device = torch.device("cuda", torch.cuda.current_device())
        elif device.index >= torch.cuda.device_count():
            ap.error(f"--device {args.device}: this machine has {torch.cuda.device_count()} "
                     "CUDA device(s)")
    on_gpu = device.type == "cuda"
    args.shape = args.shape or ("sana2b" if on_gpu else "tiny")
    args.dtype = args.dtype or ("bf16" if on_gpu else "f32")
    args.gemm_size = args.gemm_size or (8192 if on_gpu else 256)
    plan = []
    for name in filter(None, (s.strip() for s in args.only.split(","))):
        names = GROUPS.get(name, [name])
        if not set(names) <= set(CASES + GROUPS["compile"]):
            ap.error(f"--only: unknown measurement '{name}'; known: "
                     + ", ".join(CASES + sorted(GROUPS)))
        plan += [n for n in names if n not in plan]
    if args.compile and GROUPS["compile"][0] not in plan:
        plan.append(GROUPS["compile"][0])
    args.compile = GROUPS["compile"][0] in plan
    if min(args.steps_timed, args.chunks_timed, args.gemm_repeats, args.gemm_windows) < 1 \
            or args.warmup < 0:
        ap.error("--steps-timed, --chunks-timed, --gemm-repeats, --gemm-windows must be >= 1, "
                 "--warmup >= 0")
    args.plan = [n for n in CASES + GROUPS["compile"] if n in plan]  # cheap ones first
    return args, device


def summary_lines(results: dict):
    """The short human table."""
    env = results["environment"]
    yield (f"PyTorch baseline: {env.get('device_name')}, torch {env['torch_version']}, "
           f"{env['dtype']}, {env['shape']} ({env['parameters'] / 1e6:.1f} M parameters), "
           f"model built in {results['model_build_seconds']:.1f} s")
    for case in results["plan"]:
        r = results.get(case)
        if r is None:
            text = "skipped (budget)" if case in results["skipped"] else "not run"
        elif "error" in r:
            text = "ERROR " + r["error"]
        elif case == "gemm_peak":
            text = (f"bf16 {r['bf16_tflops_best']:.4g} TFLOP/s, f32 {r['f32_tflops_best']:.4g} "
                    f"TFLOP/s (best of {r['matmuls_per_window']}-matmul windows, n={r['n']})")
        elif case.startswith("long"):
            text = (f"{r['ms_per_chunk_median']:.1f} ms/chunk of {r['chunk_latent_shape'][1]} "
                    f"latent frames -> {r['video_frames_per_second']:.2f} video frames/s "
                    f"({r['latent_frames_per_second']:.2f} latent), "
                    f"{r['achieved_tflops']:.4g} TFLOP/s")
        else:
            text = (f"{r['ms_per_step_median']:.1f} ms/step -> {r['seconds_per_video_50_steps']:.1f}"
                    f" s/video (50 steps, extrapolated), {r['achieved_tflops']:.4g} TFLOP/s")
        if r and "fraction_of_gemm_peak" in r:
            text += f" = {100 * r['fraction_of_gemm_peak']:.0f}% of the {r['gemm_peak_dtype']} peak"
        if r and "peak_memory_gib" in r:
            text += f", peak {r['peak_memory_gib']:.1f} GiB"
        yield f"  {case:<28} {text}"
    yield f"  total {results['elapsed_seconds']:.1f} s"


def add_peak_fractions(results: dict):
    """Achieved TFLOP/s as a share of the measured GEMM peak of the run's dtype."""
    gemm = results.get("gemm_peak") or {}
    key = f"{results['environment']['dtype']}_tflops_best"
    if key not in gemm:
        return
    for case in results["plan"]:
        r = results.get(case)
        if case != "gemm_peak" and r and "achieved_tflops" in r:
            r["fraction_of_gemm_peak"] = r["achieved_tflops"] / gemm[key]
            r["gemm_peak_dtype"] = results["environment"]["dtype"]


def write_json(results: dict, path: str):
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)  # a reader never sees half a file


def main(argv=None):
    budget = Budget(float("inf"))
    args, device = parse_args(argv)
    budget.seconds = args.budget_seconds
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dtype = DTYPES[args.dtype]
    shape = bm.SHAPES[args.shape]
    cfg = bm.DitConfig(**shape.config).validate()
    clock = Clock(device)
    t0 = time.monotonic()
    model = bm.build_model(cfg, device, dtype, args.seed)
    if device.type == "cuda":
        torch.cuda.synchronize()
    results = {"environment": environment(args, device, dtype, cfg, model),
               "model_build_seconds": time.monotonic() - t0, "plan": args.plan, "skipped": []}
    measure = {"gemm_peak": lambda: measure_gemm_peak(args, device, clock, budget),
               "long_480p": lambda: measure_long("long_480p", model, shape, args, device, clock,
                                                 budget)}
    for case in shape.bidirectional:
        measure[case] = (lambda c: lambda: measure_bidirectional(c, model, shape, args, device,
                                                                 clock, budget))(case)
    if "bidirectional_480p_compiled" in args.plan:
        def compiled():
            if not hasattr(torch, "compile"):
                raise RuntimeError(f"torch.compile needs torch >= 2.0 (this is {torch.__version__})")
            return measure_bidirectional("bidirectional_480p_compiled", model, shape, args, device,
                                         clock, budget, forward=torch.compile(model))
        measure["bidirectional_480p_compiled"] = compiled
    with torch.inference_mode():
        for case in args.plan:
            if budget.over():
                results["skipped"].append(case)
                print(f"{case}: skipped, {budget.elapsed():.0f} s > --budget-seconds", flush=True)
                continue
            reset_memory(device)
            t = time.monotonic()
            try:
                results[case] = measure[case]()
            except Exception as e:  # an OOM at 720p (or any failure) is a result, not the end
                results[case] = {"error": describe_error(e)}
            results[case]["wall_seconds"] = time.monotonic() - t
            results["elapsed_seconds"] = budget.elapsed()
            add_peak_fractions(results)
            write_json(results, args.out)
            print(f"{case}: done in {results[case]['wall_seconds']:.1f} s", flush=True)
    results["elapsed_seconds"] = budget.elapsed()
    add_peak_fractions(results)
    write_json(results, args.out)
    print("\n".join(summary_lines(results)))
    if not args.out:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
