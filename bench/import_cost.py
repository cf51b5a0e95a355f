"""What importing a Pythia-sized series costs: seconds per checkpoint and peak memory.

    .venv/bin/python bench/import_cost.py [--sizes 14m,70m] [--checkpoints 3] [--ctx 512]

For each size, GPT-NeoX models are built from Pythia's configuration (random weights, nothing
downloaded) and saved as `stepN/` revisions with a locally trained BPE tokenizer; then, each in
its own process so that its peak resident memory is its own: the import (conversion and writing,
per checkpoint), the live tier (`Watcher.snapshot` on the model in memory, per checkpoint) and the
full analysis with the import's default settings for that size (per checkpoint). The import's
one-time set-up (reading the tokenizer, encoding the probe text) is given apart. Prints a
Markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the repository's packages, as the child stages get them
SIZES = {  # Pythia's configurations (EleutherAI/pythia-*/config.json)
    "14m": dict(hidden_size=128, num_hidden_layers=6, num_attention_heads=4, intermediate_size=512),
    "70m": dict(hidden_size=512, num_hidden_layers=6, num_attention_heads=8, intermediate_size=2048),
    "160m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}
PYTHIA = dict(vocab_size=50304, max_position_embeddings=2048, rotary_pct=0.25, use_parallel_residual=True,
              bos_token_id=0, eos_token_id=0, architectures=["GPTNeoXForCausalLM"])  # fmt: skip


def _tokenizer():
    from transformers import PreTrainedTokenizerFast

    from training.core.tokenizer import train_bpe
    from training.pipeline.data import stdlib_documents

    texts = [d.text for _, d in zip(range(300), stdlib_documents())]
    tok = train_bpe(texts, 4096)  # Pythia's own tokenizer is not available offline; the cost is the model's
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|bos|>")


def build(size: str, folder: Path, checkpoints: int) -> None:
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tok = _tokenizer()
    config = GPTNeoXConfig(**SIZES[size], **PYTHIA)
    for i in range(checkpoints):
        torch.manual_seed(i)
        model = GPTNeoXForCausalLM(config)
        model.save_pretrained(str(folder / f"step{1000 * i}"))
        tok.save_pretrained(str(folder / f"step{1000 * i}"))


def measure(stage: str, size: str, folder: Path, out: Path, ctx: int) -> dict:
    """One stage in this process: seconds per checkpoint."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    n = len(list(folder.glob("step*")))
    t0 = time.perf_counter()
    if stage == "import":
        from training.pipeline.importers.series import ImportSpec, import_series

        marks = []  # the first log line comes once the tokenizer and the probe text are ready
        spec = ImportSpec(folder, out, "bench", size, probe_ctx=ctx)
        import_series(spec, log=lambda *_: marks.append(time.perf_counter()))
        seconds = time.perf_counter() - marks[0]
        return {
            "stage": stage,
            "seconds_per_checkpoint": seconds / n,
            "setup_s": marks[0] - t0,
            "peak_rss_mib": _peak_mib(),
        }
    elif stage == "live":
        from transformers import AutoTokenizer, GPTNeoXForCausalLM

        from training.pipeline.watch import Watcher

        tok = AutoTokenizer.from_pretrained(str(folder / "step0"), local_files_only=True)
        watcher = Watcher(out, "live", size, tok, probe_ctx=ctx, log=lambda *_: None)
        models = [
            GPTNeoXForCausalLM.from_pretrained(str(p), local_files_only=True) for p in sorted(folder.glob("step*"))
        ]
        times = []  # the live tier alone, as a training loop pays it; the first snapshot also sets up
        for i, model in enumerate(models):
            t = time.perf_counter()
            watcher.snapshot(model, 1000 * i)
            times.append(time.perf_counter() - t)
        per = sum(times[1:]) / max(len(times) - 1, 1)
        return {"stage": stage, "seconds_per_checkpoint": per, "setup_s": times[0] - per, "peak_rss_mib": _peak_mib()}
    else:
        from training.core.artifacts import schema
        from training.pipeline.analyze import analysis_config, analyze_run

        run_path = out / "bench" / size
        analyze_run(run_path, analysis_config(schema.read_manifest(run_path)), log=lambda *_: None)
    seconds = time.perf_counter() - t0
    return {"stage": stage, "seconds_per_checkpoint": seconds / n, "peak_rss_mib": _peak_mib()}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="14m,70m")
    parser.add_argument("--checkpoints", type=int, default=3)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # internal: one stage in a child process
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(measure(args.stage, args.sizes, args.folder, args.out, args.ctx)))
        return
    print(
        f"load average {os.getloadavg()[0]:.1f}; {args.checkpoints} checkpoints per size, probes of {args.ctx} tokens"
    )
    print("| size | stage | s / checkpoint | peak RSS (MiB) |\n|---|---|---|---|")
    for size in args.sizes.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            folder, out = Path(tmp) / f"pythia-{size}", Path(tmp) / "artifacts"
            build(size, folder, args.checkpoints)
            for stage in ("import", "live", "analysis"):
                cmd = [sys.executable, __file__, "--stage", stage, "--sizes", size, "--folder", str(folder),
                       "--out", str(out), "--ctx", str(args.ctx)]  # fmt: skip
                env = {**os.environ, "PYTHONPATH": str(REPO)}
                result = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
                setup = f" (+ {result['setup_s']:.0f} s once: probe text and inputs)" if "setup_s" in result else ""
                per = f"{result['seconds_per_checkpoint']:.2f}{setup}"
                print(f"| pythia-{size} | {stage} | {per} | {result['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
