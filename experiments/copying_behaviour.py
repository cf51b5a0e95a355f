"""Copying as the paper words it, measured on behaviour rather than weights (issue 12).

Run:  .venv/bin/python experiments/copying_behaviour.py SUITE_DIR [RUN ...]   (default: every run)

Olsson et al. 2022 define an induction head's second property as "Copying: the head's output
increases the logit corresponding to the attended-to token", on a repeated sequence of random
tokens. The copying score stored before (now `copying_ov`) reads the head's weights
(`training.core.analysis.circuits`) and puts even a clear copier near -0.75 here; this script
measures the sentence directly. On
the paper's prefix-matching input (`training.core.analysis.scores.prefix_matching_sequences`: BOS,
then 25 random token types of the corpus repeated 4 times; 16 sequences), for every query in
repeats 2-4 and every head: the head's output at that query (its attention-weighted values through
W_O) through the direct path to the logits (`circuits.direct_path_unembed`: ln_final's linear
part, then W_U), mean-centred over the vocabulary; and the token the head attends to most.
Printed per head: the share of queries at which that token's centred logit is above 0 (the
sentence's "increases"), the share at which it is the largest of all 1024 (a strict copier),
and the mean z-score of its logit among the vocabulary. A head that does not copy has its
attended token above the mean about half the time and top-1 about 1/1024 of it.

Nothing is stored: this was the evidence for the copying score's definition (LOG round 6); the
stored `copying` (version 2, `training.core.analysis.attribution.copying_on_repeats`) is its
2 * share - 1 on the analysis's own prefix-matching sequences.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training import load_hooked
from training.core.analysis import circuits  # noqa: E402
from training.core.analysis.scores import prefix_matching_sequences  # noqa: E402
from training.core.artifacts import schema  # noqa: E402
from training.core.tokenizer import BOS_ID  # noqa: E402

SEQUENCES, RANDOM, REPEATS, SEED = 16, 25, 4, 11


def behaviour(run_dir: Path, counts) -> list[tuple[str, float, float, float]]:
    model = load_hooked(run_dir, "latest", with_tokenizer=False)
    tokens = prefix_matching_sequences(
        counts, n_sequences=SEQUENCES, n_random=RANDOM, n_repeats=REPEATS, bos_token=BOS_ID, seed=SEED
    )  # (batch, 1 + RANDOM * REPEATS)
    unembed = circuits.direct_path_unembed(model)  # (d_model, d_vocab)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    second = torch.arange(1 + RANDOM, tokens.shape[1])  # queries in repeats 2..REPEATS
    rows = []
    for layer in range(model.cfg.n_layers):
        z = cache[f"blocks.{layer}.attn.hook_z"][:, second]  # (batch, query, head, d_head)
        pattern = cache[f"blocks.{layer}.attn.hook_pattern"][:, :, second]  # (batch, head, query, key)
        with torch.no_grad():
            out = torch.einsum("bqhd,hdm->bqhm", z, model.W_O[layer])  # each head's output
            logits = out @ unembed  # (batch, query, head, vocab)
            centred = logits - logits.mean(-1, keepdim=True)
            z_scores = centred / centred.std(-1, keepdim=True).clamp_min(1e-12)
        attended_key = pattern.argmax(-1).permute(0, 2, 1)  # (batch, query, head)
        attended = torch.gather(tokens[:, None, :].expand(-1, len(second), -1), 2, attended_key)
        own = torch.gather(centred, 3, attended[..., None])[..., 0]  # (batch, query, head)
        own_z = torch.gather(z_scores, 3, attended[..., None])[..., 0]
        top1 = centred.argmax(-1) == attended
        for head in range(model.cfg.n_heads):
            rows.append(
                (
                    f"L{layer}H{head}",
                    float((own[..., head] > 0).float().mean()),
                    float(top1[..., head].float().mean()),
                    float(own_z[..., head].mean()),
                )
            )
    return rows


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    suite = Path(argv[0])
    counts = schema.read_npy(schema.data_dir(suite) / "token_counts.npy")
    runs = argv[1:] or schema.list_runs(suite)
    for run in runs:
        print(f"{run}: head, attended token's logit above the mean, top-1 of the vocabulary, mean z")
        for label, above, top1, z in behaviour(suite / run, counts):
            print(f"  {label}  {above:5.2f}  {top1:5.2f}  {z:+6.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
