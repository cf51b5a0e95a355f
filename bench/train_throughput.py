"""Training throughput against TransformerLens and against the machine (a benchmark, not a test).

    .venv/bin/python bench/train_throughput.py [--preset default] [--run attn2] [--steps 40] [--rounds 5]
                                               [--mm 2048] [--profile] [--device cpu|cuda] [--precision fp32|bf16]

In this one process, with the preset's thread count, on a batch of the preset's shape:
- **ours, eager** and **ours, compiled**: `training.pipeline.train.train_step` (forward, loss, backward,
  clipping, AdamW) on `training.core.model.Transformer`, with `batch_loss` and `compiled_loss()`;
- **TransformerLens**: a `HookedTransformer` built from the same config and the same weights by
  `training.core.hooked.hooked_from_state` (the hooks that re-create `qk_pos_layers` included, so it
  computes the same function), trained by the same `train_step` and AdamW settings;
- the machine's fp32 matrix-multiply rate: the best of several `torch.mm` of two `--mm` square
  matrices (2 n^3 FLOPs each), with the same threads;
- model FLOPs utilisation (MFU): tokens/s x training FLOPs per token / that rate. FLOPs per
  token count the matmuls only, 3x the forward (forward + backward), as PaLM's appendix B does:
  6 N (N: the weights of every matmul, unembedding included, embedding lookups excluded) plus
  the attention scores and mixing, 12 L d_attn T with the full T x T matrix; "causal" counts
  only the (T+1)/2 keys a query can see (what a causal kernel computes).

Each variant runs `--rounds` rounds of `--steps` timed steps, interleaved (eager, compiled,
TransformerLens, eager, ...) so that a busy machine slows them alike, and each round measures
the matmul rate again: tokens/s is a variant's median round, a ratio (and an MFU) the median of
the same-round ratios. On a CPU a fourth variant, the compiled step with `AdamW(fused=True)`,
shows what the optimizer's per-parameter loop costs (training keeps the default AdamW, whose
results the resume guarantee is stated for). Batches come from `training.pipeline.data.train_batch` on a random token stream (the data
pipeline is inside the timed step, as in the training loop), and are the same for every variant.
The first losses of the three are printed: they must agree (same weights, same batch).
`--profile` (or a missed target: >= 1.5x TransformerLens, >= 35% MFU) prints a torch.profiler
table of our compiled and eager steps: where the time goes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.core.allocator import keep_buffers_in_heap  # noqa: E402
from training.core.config import ModelConfig  # noqa: E402
from training.core.hooked import hooked_from_state  # noqa: E402
from training.core.model import Transformer  # noqa: E402
from training.pipeline import data, presets  # noqa: E402
from training.pipeline.train import batch_loss, compiled_loss, train_step  # noqa: E402

TARGET_VS_TL, TARGET_MFU = 1.5, 0.35
FUSED = "ours, compiled, fused AdamW"  # not what training uses: how much the optimizer costs


def train_flops_per_token(cfg: ModelConfig, *, causal: bool) -> float:
    """Matmul FLOPs of one training token: 3x the forward (PaLM, appendix B)."""
    d_attn = cfg.n_heads * cfg.d_head
    per_layer = 2 * cfg.d_model * 3 * d_attn + 2 * d_attn * cfg.d_model  # Q, K, V in; O out
    if not cfg.attn_only:
        per_layer += 2 * 2 * cfg.d_model * cfg.d_mlp
    keys = (cfg.n_ctx + 1) / 2 if causal else cfg.n_ctx  # keys a query attends to, on average
    per_layer += 2 * 2 * keys * d_attn  # q . k scores, and pattern @ v
    forward = cfg.n_layers * per_layer + 2 * cfg.d_model * cfg.d_vocab  # + unembedding
    return 3 * forward


def matmul_rate(n: int, device: torch.device, dtype: torch.dtype = torch.float32, repeats: int = 10) -> float:
    """Best FLOP/s of `torch.mm` on two n x n matrices."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--run", default="attn2")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per round and variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mm", type=int, default=2048, help="size of the square matrices of the matmul rate")
    parser.add_argument("--threads", type=int, help="torch threads (default: the preset's)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--no-tl", action="store_true", help="skip TransformerLens (e.g. a model too big for it)")
    parser.add_argument("--profile", action="store_true", help="print the profiler tables even if targets are met")
    args = parser.parse_args()

    keep_buffers_in_heap()  # as the CLI does
    preset = presets.load(args.preset)
    run = preset.select_runs([args.run])[0]
    cfg_m = preset.run_model(run, preset.data.vocab_size if preset.data.tokenizer == "bpe" else 257)
    cfg_t = preset.train
    threads = args.threads or cfg_t.threads
    torch.set_num_threads(threads)
    device = torch.device(args.device)
    tokens_per_step = cfg_t.batch_size * cfg_m.n_ctx
    stream = np.random.default_rng(0).integers(1, cfg_m.d_vocab, size=2_000_000).astype(np.uint16)

    def batch(step: int) -> torch.Tensor:
        x = data.train_batch(stream, step, seed=0, batch_size=cfg_t.batch_size, n_ctx=cfg_m.n_ctx, repeat_fraction=0.25)
        return x.to(device)

    amp = torch.bfloat16 if args.precision == "bf16" else None  # on a CPU too, to measure it

    def run_step(model, opt, x, loss_fn) -> float:
        return train_step(model, opt, x, lr=cfg_t.lr, grad_clip=cfg_t.grad_clip, loss_fn=loss_fn, autocast=amp)

    torch.manual_seed(0)
    init = {k: v.clone() for k, v in Transformer(cfg_m).state_dict().items()}

    def make(kind: str):
        fused = {"fused": True} if kind == "fused" else {}
        if kind == "tl":
            model = hooked_from_state(cfg_m, init, str(device)).train()
        else:
            model = Transformer(cfg_m).to(device)
            model.load_state_dict(init)
        opt = torch.optim.AdamW(
            model.parameters(), lr=cfg_t.lr, betas=(cfg_t.beta1, cfg_t.beta2), weight_decay=cfg_t.weight_decay, **fused
        )
        return model, opt

    variants = {"ours, eager": ("ours", batch_loss), "ours, compiled": ("ours", None)}
    if not args.no_tl:
        variants["TransformerLens"] = ("tl", batch_loss)
    if device.type == "cpu":  # what the profile points at: AdamW's per-parameter loop
        variants[FUSED] = ("fused", None)
    state, first_loss, compile_s = {}, {}, None
    for name, (kind, loss_fn) in variants.items():
        model, opt = make(kind)
        if loss_fn is None:
            loss_fn = compiled_loss()
        t0 = time.perf_counter()
        first_loss[name] = run_step(model, opt, batch(0), loss_fn)
        for s in range(1, 4):  # warm-up (and compiling, for the compiled step)
            run_step(model, opt, batch(s), loss_fn)
        sync(device)
        if name == "ours, compiled":
            compile_s = time.perf_counter() - t0
        state[name] = (model, opt, loss_fn)

    rates: dict[str, list[float]] = {name: [] for name in variants}
    peaks: list[float] = []
    memory: dict[str, float] = {}  # peak GPU memory per variant, bytes
    step = 4
    for _ in range(args.rounds):
        # The matmul rate in every round too: on a shared machine the load changes from one
        # round to the next, and MFU compares a step with the matmul rate measured beside it.
        peaks.append(matmul_rate(args.mm, device, torch.bfloat16 if args.precision == "bf16" else torch.float32, 3))
        for name, (model, opt, loss_fn) in state.items():
            sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            t0 = time.perf_counter()
            for s in range(step, step + args.steps):
                run_step(model, opt, batch(s), loss_fn)
            sync(device)
            rates[name].append(args.steps * tokens_per_step / (time.perf_counter() - t0))
            if device.type == "cuda":
                memory[name] = max(memory.get(name, 0.0), torch.cuda.max_memory_allocated(device))
        step += args.steps
    t0 = time.perf_counter()
    for s in range(200):
        batch(s)
    batch_ms = (time.perf_counter() - t0) / 200 * 1e3

    flops = train_flops_per_token(cfg_m, causal=False)
    flops_causal = train_flops_per_token(cfg_m, causal=True)
    tok_s = {name: statistics.median(r) for name, r in rates.items()}

    def mfu(name: str, per_token: float) -> float:  # median over rounds, each against its own matmul rate
        return statistics.median(r * per_token / p for r, p in zip(rates[name], peaks))

    def ratio(a: str, b: str) -> float:  # median over rounds of the same-round ratio
        return statistics.median(x / y for x, y in zip(rates[a], rates[b]))

    print(f"machine: {platform.machine()} {cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__}")
    print(
        f"preset {args.preset}, run {args.run}: {cfg_m.n_layers} layers, d_model {cfg_m.d_model}, "
        f"{cfg_m.n_heads} heads x {cfg_m.d_head}, n_ctx {cfg_m.n_ctx}, d_vocab {cfg_m.d_vocab}, "
        f"attn_only {cfg_m.attn_only}, positional {cfg_m.positional}; batch {cfg_t.batch_size} x {cfg_m.n_ctx}; "
        f"device {device}, {args.precision}, {threads} threads; {args.rounds} rounds of {args.steps} steps"
    )
    print("first-step losses (must agree): " + ", ".join(f"{n} {v:.6f}" for n, v in first_loss.items()))
    print(f"compiling (first 4 steps of the compiled variant): {compile_s:.1f} s")
    print(f"data pipeline (train_batch, in the step): {batch_ms:.2f} ms per batch")
    print(f"{'':30s} {'tokens/s':>10s} {'ms/step':>8s} {'MFU':>6s} {'MFU causal':>10s}  rounds (k tokens/s)")
    for name, value in tok_s.items():
        spread = ", ".join(f"{r / 1e3:.1f}" for r in rates[name])
        print(
            f"{name:30s} {value:10.0f} {tokens_per_step / value * 1e3:8.1f} {mfu(name, flops):6.1%} "
            f"{mfu(name, flops_causal):10.1%}  {spread}"
        )
    print(
        f"matmul rate ({args.mm}^2 torch.mm, {args.precision}): median {statistics.median(peaks) / 1e9:.1f} GFLOP/s "
        f"(rounds: {', '.join(f'{p / 1e9:.0f}' for p in peaks)}); training FLOPs per token: {flops / 1e6:.3f} M "
        f"({flops_causal / 1e6:.3f} M causal)"
    )
    if memory:
        print("peak GPU memory allocated: " + ", ".join(f"{n} {m / 2**30:.2f} GiB" for n, m in memory.items()))
    ours = ["ours, eager", "ours, compiled"]
    best = max(ours, key=lambda n: tok_s[n])
    ratios = [f"compiled / eager {ratio('ours, compiled', 'ours, eager'):.2f}x"]
    if "TransformerLens" in tok_s:
        ratios += [f"{n.split(', ')[1]} / TransformerLens {ratio(n, 'TransformerLens'):.2f}x" for n in ours]
    if FUSED in tok_s:
        ratios.append(f"fused AdamW / compiled {ratio(FUSED, 'ours, compiled'):.2f}x")
    print("ratios (median of same-round ratios): " + ", ".join(ratios))
    missed = []
    if "TransformerLens" in tok_s and ratio(best, "TransformerLens") < TARGET_VS_TL:
        missed.append(f"speed-up over TransformerLens {ratio(best, 'TransformerLens'):.2f}x < {TARGET_VS_TL}x")
    if mfu(best, flops) < TARGET_MFU:
        missed.append(f"MFU {mfu(best, flops):.1%} < {TARGET_MFU:.0%}")
    print(f"targets ({best}): " + ("met" if not missed else "missed: " + "; ".join(missed)))
    if missed or args.profile:
        for name in ("ours, compiled", "ours, eager"):
            print(f"\nprofile of {args.steps} steps, {name} (self time, top 15):")
            print(profile(state[name], batch, run_step, args.steps, device))


def profile(variant, batch, run_step, steps: int, device: torch.device) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    model, opt, loss_fn = variant
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        for s in range(steps):
            run_step(model, opt, batch(s), loss_fn)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=15, max_name_column_width=48)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


if __name__ == "__main__":
    main()
