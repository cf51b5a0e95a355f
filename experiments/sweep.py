"""Phase-change search on this CPU: train one configuration, log the package's metrics as it goes.

Run:  .venv/bin/python experiments/sweep.py NAME key=value ...   (log in experiments/logs/NAME.log)

Everything but the loop itself is the package's: the corpus, split and BPE (`training.pipeline.data`,
`training.core.tokenizer`), the batches keyed on (seed, step) with `repeat_fraction`
(`data.train_batch`), the model (`training.core.model.Transformer`), the warm-up schedule, and the
metrics of `training.pipeline.analyze` with the `AnalysisConfig` defaults: prefix matching on
`prefix_matching_sequences` (random tokens), previous-token score and ICL score on the held-out
evaluation contexts. A run with the `default` preset's values is that preset's 2-layer run.

Options (defaults = the `default` preset):
  seed=0 batch=8 ctx=256 lr=3e-3 warmup=100 d=64 heads=4 dh=(d // heads) layers=2 vocab=1024
  aug=0.25 (repeat fraction)  pos=rotary qkpos=1 (rotary in layer 0 only; qkpos=all: every layer)
  ln=1 smear=0 smear_init=0.5 init=(TransformerLens default) wd=0.01 b2=0.99
  threads=1 minutes=30 max_steps=1000000 every=250 (steps between evaluations)
  stop_at=0 : > 0 ends the run once the last layer's max prefix-matching score has been at or
              above it for two evaluations in a row; the crossing is the first of the two.

Each evaluation line: wall seconds (all), train seconds (training steps only), step, tokens seen,
held-out loss, ICL score, max prefix matching per layer, max previous-token per layer, and
tokens/s over training seconds. The last line is a JSON summary.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training.core import tokenizer  # noqa: E402
from training.core.analysis import loss as loss_metrics  # noqa: E402
from training.core.analysis import scores  # noqa: E402
from training.core.config import ModelConfig
from training.core.model import Transformer, next_token_loss  # noqa: E402
from training.pipeline import data
from training.pipeline.config import AnalysisConfig, DataConfig, TrainConfig  # noqa: E402
from training.pipeline.schedule import learning_rate  # noqa: E402
from training.pipeline.train import train_step  # noqa: E402

LOG_DIR = Path(__file__).resolve().parent / "logs"
DEFAULTS = {
    "seed": "0",
    "batch": "8",
    "ctx": "256",
    "lr": "3e-3",
    "warmup": "100",
    "d": "64",
    "heads": "4",
    "layers": "2",
    "vocab": "1024",
    "aug": "0.25",
    "pos": "rotary",
    "qkpos": "1",
    "ln": "1",
    "smear": "0",
    "smear_init": "0.5",
    "wd": "0.01",
    "b2": "0.99",
    "threads": "1",
    "minutes": "30",
    "max_steps": "1000000",
    "every": "250",
    "stop_at": "0",
}


def parse_args(argv: list[str]) -> tuple[str, dict[str, str]]:
    if len(argv) < 2 or "=" in argv[1]:
        sys.exit(__doc__)
    opts = dict(DEFAULTS)
    for item in argv[2:]:
        key, sep, value = item.partition("=")
        if not sep or (key not in DEFAULTS and key not in ("dh", "init")):
            sys.exit(f"unknown option {item!r}\n{__doc__}")
        opts[key] = value
    return argv[1], opts


def corpus(vocab: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train ids, held-out ids, train token counts), as the package builds a stdlib suite; cached."""
    cache = Path(f"/tmp/sweep_stdlib_bpe{vocab}.npz")
    if not cache.exists():
        train_docs, held_docs = data.split(data.documents(DataConfig(vocab_size=vocab)), DataConfig.heldout_fraction)
        tok = tokenizer.train_bpe((d.text for d in train_docs), vocab)
        train_ids, held_ids = data.encode(tok, train_docs), data.encode(tok, held_docs)
        counts = np.bincount(train_ids, minlength=tok.get_vocab_size())
        np.savez(cache, train=train_ids.astype(np.uint16), held=held_ids.astype(np.uint16), counts=counts)
    z = np.load(cache)
    return z["train"], z["held"], z["counts"]


def main() -> None:
    name, o = parse_args(sys.argv)
    seed, batch, ctx, layers = int(o["seed"]), int(o["batch"]), int(o["ctx"]), int(o["layers"])
    torch.set_num_threads(int(o["threads"]))
    train_ids, held_ids, counts = corpus(int(o["vocab"]))

    d_model, n_heads = int(o["d"]), int(o["heads"])
    model_cfg = ModelConfig(
        n_layers=layers,
        d_model=d_model,
        n_heads=n_heads,
        d_head=int(o.get("dh", d_model // n_heads)),
        n_ctx=ctx,
        d_vocab=len(counts),
        attn_only=True,
        layernorm=o["ln"] == "1",
        positional=o["pos"],
        qk_pos_layers=None if o["qkpos"] == "all" else int(o["qkpos"]),
        smeared_keys=o["smear"] == "1",
        smear_init=float(o["smear_init"]),
        init_std=float(o["init"]) if "init" in o else None,
    )
    train_cfg = TrainConfig(
        seed=seed,
        steps=int(o["max_steps"]),
        batch_size=batch,
        lr=float(o["lr"]),
        warmup_steps=int(o["warmup"]),
        weight_decay=float(o["wd"]),
        beta2=float(o["b2"]),
        threads=int(o["threads"]),
    )
    torch.manual_seed(seed)  # model init only, as in training.pipeline.train
    model = Transformer(model_cfg)
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=train_cfg.lr,
        betas=(train_cfg.beta1, train_cfg.beta2),
        weight_decay=train_cfg.weight_decay,
    )

    # The evaluation inputs of training.pipeline.analyze.run_inputs, with the AnalysisConfig defaults.
    acfg = AnalysisConfig()
    eval_x = data.eval_batch(held_ids, n_sequences=acfg.eval_sequences, n_ctx=ctx, seed=acfg.eval_seed)
    n_random = min(acfg.prefix_random, (ctx - 1) // acfg.prefix_repeats)
    prefix_x = scores.prefix_matching_sequences(
        counts,
        n_sequences=acfg.prefix_sequences,
        n_random=n_random,
        n_repeats=acfg.prefix_repeats,
        exclude_fraction=acfg.prefix_exclude,
        bos_token=tokenizer.BOS_ID,
        seed=acfg.prefix_seed,
    )
    icl_late, icl_early = loss_metrics.default_icl_indices(ctx)
    icl_width = ctx // 64

    @torch.no_grad()
    def evaluate() -> dict:
        model.eval()
        logits, text_patterns = model(eval_x, return_patterns=True)
        per_token = next_token_loss(logits, eval_x)
        _, prefix_patterns = model(prefix_x, return_patterns=True)
        model.train()
        prefix = [
            scores.prefix_matching_score(p, n_random=n_random, n_repeats=acfg.prefix_repeats) for p in prefix_patterns
        ]
        prev = [scores.previous_token_score(p) for p in text_patterns]
        return {
            "held": per_token.mean().item(),
            "icl": loss_metrics.icl_score(per_token, late=icl_late, early=icl_early, width=icl_width),
            "prefix": [round(s.max().item(), 3) for s in prefix],
            "prev": [round(s.max().item(), 3) for s in prev],
        }

    LOG_DIR.mkdir(exist_ok=True)
    log_file = open(LOG_DIR / f"{name}.log", "w")

    def emit(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    emit(json.dumps({"name": name, **o, "V": len(counts), "torch_threads": torch.get_num_threads()}))
    tokens_per_step = batch * ctx
    stop_at, every = float(o["stop_at"]), int(o["every"])
    budget_s = float(o["minutes"]) * 60
    t0 = time.perf_counter()
    train_s, step, crossing, above = 0.0, 0, None, 0
    while True:
        if step % every == 0 or step >= train_cfg.steps or time.perf_counter() - t0 > budget_s:
            m = evaluate()
            wall = time.perf_counter() - t0
            tps = step * tokens_per_step / max(train_s, 1e-9)
            emit(
                f"t={wall:7.1f}s train={train_s:7.1f}s step={step:6d} tokens={step * tokens_per_step / 1e6:6.2f}M "
                f"held={m['held']:.3f} icl={m['icl']:+.3f} prefix_max/layer={m['prefix']} "
                f"prev_max/layer={m['prev']} tok/s={tps / 1e3:.1f}k"
            )
            if stop_at > 0 and m["prefix"][-1] >= stop_at:
                above += 1
                if crossing is None:
                    crossing = {
                        "step": step,
                        "tokens": step * tokens_per_step,
                        "train_s": round(train_s, 1),
                        "wall_s": round(wall, 1),
                    }
            else:
                above, crossing = 0, None
            if (stop_at > 0 and above >= 2) or step >= train_cfg.steps or wall > budget_s:
                break
        start = time.perf_counter()
        x = data.train_batch(train_ids, step, seed=seed, batch_size=batch, n_ctx=ctx, repeat_fraction=float(o["aug"]))
        train_step(model, opt, x, lr=learning_rate(train_cfg, step), grad_clip=train_cfg.grad_clip)
        step += 1
        train_s += time.perf_counter() - start
    summary = {
        "name": name,
        "steps": step,
        "train_s": round(train_s, 1),
        "tokens_per_s": round(step * tokens_per_step / max(train_s, 1e-9)),
        "crossed": crossing,
        "final": m,
    }
    emit("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
