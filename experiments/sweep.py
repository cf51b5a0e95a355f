"""Phase-change search on this CPU: train one config, log prefix-matching score over wall time.

Run: python experiments/sweep.py NAME key=value ...   (writes experiments/logs/NAME.log)
Uses the project's model (training.model) on BPE-tokenised stdlib code.
"""
import math, sys, time, os, random, sysconfig, json
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training.config import ModelConfig
from training.model import Transformer, next_token_loss

args = dict(a.split("=", 1) for a in sys.argv[2:])
name = sys.argv[1]
def g(k, d):
    v = args.get(k, d)
    return type(d)(v) if not isinstance(d, bool) else v in ("1", "true", True)

torch.set_num_threads(g("threads", 2))
torch.manual_seed(g("seed", 0))
cache = Path("/tmp/sweep_tokens_%d.npy" % g("vocab", 1024))
if not cache.exists():
    from tokenizers import ByteLevelBPETokenizer
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if not any(x in p.parts for x in ("test", "tests", "idlelib", "site-packages")))
    texts = []
    for p in files:
        try: texts.append(p.read_text("utf-8"))
        except Exception: pass
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(texts, vocab_size=g("vocab", 1024), special_tokens=["<|bos|>"])
    ids = [tok.encode(t).ids for t in texts]
    counts = np.bincount(np.concatenate([np.array(x, dtype=np.int64) for x in ids]), minlength=tok.get_vocab_size())
    allids = np.concatenate([np.array([0] + x, dtype=np.int32) for x in ids])
    np.save(cache, allids); np.save(str(cache) + ".counts.npy", counts)
data = np.load(cache); counts = np.load(str(cache) + ".counts.npy")
V = int(counts.shape[0])
n_train = int(len(data) * 0.95)
train, held = torch.from_numpy(data[:n_train].astype(np.int64)), torch.from_numpy(data[n_train:].astype(np.int64))
ctx = g("ctx", 256); B = g("batch", 8)
cfg = ModelConfig(n_layers=g("layers", 2), d_model=g("d", 64), n_heads=g("heads", 4), d_head=g("dh", 16), n_ctx=ctx,
                  d_vocab=V, attn_only=True, layernorm=g("ln", True), positional=args.get("pos", "standard"),
                  qk_pos_layers=(int(args["qkpos"]) if "qkpos" in args else None), smeared_keys=g("smear", False),
                  smear_init=g("smear_init", 0.5), init_std=(float(args["init"]) if "init" in args else None))
model = Transformer(cfg)
opt = torch.optim.AdamW(model.parameters(), lr=g("lr", 3e-3), betas=(0.9, g("b2", 0.99)), weight_decay=g("wd", 0.01))
warm = g("warmup", 100)
# prefix-matching eval set
order = np.argsort(-counts); nz = order[counts[order] > 0]; k = len(nz) // 10
mid = nz[k: len(nz) - k]
rng = np.random.default_rng(123)
seqs = []
for _ in range(10):
    r = rng.choice(mid, 25, replace=False)
    seqs.append([0] + list(r) * 4)
pm = torch.tensor(np.array(seqs), dtype=torch.long)
def prefix_scores():
    with torch.no_grad():
        _, pats = model(pm, return_patterns=True)
    out = []
    for p in pats:  # b h q k
        sc = []
        q_idx = torch.arange(26, 101)
        # key = q - 25*m + 1 for m with key>=1... positions that followed the same token earlier
        tot = torch.zeros(p.shape[:2])
        for q in q_idx.tolist():
            keys = [q - 25 * m + 1 for m in range(1, 4) if q - 25 * m + 1 >= 1 and q - 25 * m >= 1]
            tot += p[:, :, q, keys].sum(-1)
        out.append((tot / len(q_idx)).mean(0))
    return torch.stack(out)  # layer head
def prev_scores():
    x = held[:ctx].unsqueeze(0)
    with torch.no_grad():
        _, pats = model(x, return_patterns=True)
    return torch.stack([p[0].diagonal(-1, -2, -1).mean(-1) for p in pats])
def icl():
    g_ = torch.Generator().manual_seed(7)
    starts = torch.randint(0, len(held) - ctx - 1, (32,), generator=g_)
    x = torch.stack([held[s:s + ctx] for s in starts])
    with torch.no_grad():
        l = next_token_loss(model(x), x)
    late, early = int(ctx * 500 / 512), int(ctx * 50 / 512)
    return l.mean().item(), (l[:, late - 1] .mean() - l[:, early - 1].mean()).item(), l[:, late-8:late+8].mean().item() - l[:, early-8:early+8].mean().item()
log = open(Path(__file__).parent / "logs" / f"{name}.log", "w")
def w(s):
    print(s); log.write(s + "\n"); log.flush()
w(json.dumps({"name": name, **args, "V": V}))
t0 = time.time(); step = 0; budget = g("minutes", 10.0) * 60; nxt = 0
gen = torch.Generator().manual_seed(0)
while True:
    el = time.time() - t0
    if el >= nxt or el > budget:
        ps = prefix_scores(); pv = prev_scores(); hl, ic, ic2 = icl()
        extra = ""
        if cfg.smeared_keys:
            extra = " smear=" + ",".join(f"{torch.sigmoid(b.attn.smear_alpha).min().item():.2f}" for b in model.blocks)
        w(f"t={el:6.1f}s step={step:6d} held={hl:.3f} icl={ic:+.3f}/{ic2:+.3f} prefix_max/layer={[round(x,3) for x in ps.max(-1).values.tolist()]} prev_max/layer={[round(x,3) for x in pv.max(-1).values.tolist()]}{extra}")
        nxt += g("every", 30.0)
        if el > budget: break
    starts = torch.randint(0, len(train) - ctx - 1, (B,), generator=gen)
    x = torch.stack([train[s:s + ctx] for s in starts])
    if g("aug", 0.0) > 0:  # repeat augmentation: some rows' second half copies their first half
        rows = torch.rand(B, generator=gen) < g("aug", 0.0)
        x[rows, ctx // 2:] = x[rows, :ctx - ctx // 2]
    lr = g("lr", 3e-3) * min(1.0, (step + 1) / max(1, warm))
    for pg in opt.param_groups: pg["lr"] = lr
    loss = next_token_loss(model(x), x).mean()
    opt.zero_grad(set_to_none=True); loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); step += 1
