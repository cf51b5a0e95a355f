#!/usr/bin/env bash
# The GPU check of issue 14, one prepared script (needs a CUDA GPU and the CUDA build of torch;
# no network: the corpus is the standard library). About 10 minutes on one H100.
#
#     bash bench/gpu_check.sh [OUT]        # figures in OUT (default /tmp/gpu_check)
#
# 1. tokens/s, MFU against the matmul rate of the same dtype, peak memory: the `paper` attn2
#    model (d768, 12 heads, ctx 512, vocabulary 16,384, batch 32), eager and compiled, fp32 and bf16;
# 2. the `paper` attn2 run trained for 1,500 steps in fp32 and in bf16 from the same seed on the
#    same batches: held-out loss at every snapshot, and the largest difference;
# 3. a one-GPU torchrun launch (process group, NCCL, DDP) of 200 steps, and its manifest.
set -euo pipefail
OUT=${1:-/tmp/gpu_check}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"

for p in fp32 bf16; do
  $PY bench/train_throughput.py --preset paper --run attn2 --device cuda --precision $p --no-tl \
      --steps 20 --rounds 3 --mm 8192 2>&1 | tee "$OUT/throughput_$p.txt"
done

RUN=(--preset paper --runs attn2 --device cuda --no-analyze --out "$OUT/art"
     --set data.source=stdlib --set data.max_chars=20000000 --set train.steps=1500
     --set train.warmup_steps=100 --set train.resume_every=500
     --set train.log_snapshots=10 --set train.linear_snapshots=10)  # 116 MiB per snapshot
time $PY -m training train "${RUN[@]}" --suite fp32 --set train.precision=fp32 2>&1 | tail -3 | tee "$OUT/run_fp32.txt"
# the bf16 suite reuses the fp32 suite's tokenizer and token splits (same data settings)
for suite in bf16 ddp; do
  mkdir -p "$OUT/art/$suite" && cp -r "$OUT/art/fp32/data" "$OUT/art/fp32/tokenizer.json" "$OUT/art/fp32/hf_tokenizer" "$OUT/art/$suite/"
done
time $PY -m training train "${RUN[@]}" --suite bf16 --set train.precision=bf16 2>&1 | tail -3 | tee "$OUT/run_bf16.txt"
$PY - "$OUT/art" <<'PY' | tee "$OUT/bf16_vs_fp32.txt"
import sys
from pathlib import Path
sys.path.insert(0, ".")
from training import schema
art = Path(sys.argv[1])
a, b = schema.read_manifest(art / "fp32" / "attn2"), schema.read_manifest(art / "bf16" / "attn2")
print("device", a.device, b.device, "precision", a.precision, b.precision)
print("train time s", a.train_time_s, b.train_time_s, "tokens/s", [round(m.tokens_per_step * m.train["steps"] / m.train_time_s) for m in (a, b)])
worst = 0.0
for x, y in zip(a.snapshots, b.snapshots):
    worst = max(worst, abs(x.heldout_loss - y.heldout_loss) / x.heldout_loss)
    print(f"step {x.step:5d}  held-out fp32 {x.heldout_loss:.4f}  bf16 {y.heldout_loss:.4f}")
print(f"largest relative difference of the held-out loss: {worst:.2%}")
PY

$PY -m torch.distributed.run --standalone --nproc_per_node=1 -m training train "${RUN[@]}" --suite ddp \
    --set train.steps=200 --set train.precision=bf16 2>&1 | tail -3 | tee "$OUT/ddp.txt"
$PY -c "import sys; sys.path.insert(0, '.'); from training import schema; m = schema.read_manifest('$OUT/art/ddp/attn2'); print('ddp', m.status, m.processes, m.device, m.precision, m.snapshots[-1].heldout_loss)" | tee -a "$OUT/ddp.txt"
