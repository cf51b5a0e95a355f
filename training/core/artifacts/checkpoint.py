"""The resume checkpoint: everything a killed run needs to continue bit for bit.

One safetensors file per run (`resume/checkpoint.safetensors`): the model's weights
(`model.*`), the AdamW state of every parameter (`opt.<i>.<key>`), the torch RNG state and the
per-step training losses so far, with the step and the seconds trained in its metadata. A
complete run deletes it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from training.core.artifacts import files, layout
from training.core.artifacts.errors import ArtifactError


def exists(run_path: Path) -> bool:
    return layout.resume_path(run_path).exists()


def save(run_path: Path, model, opt, step: int, losses: list[float], elapsed: float) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for i, p in enumerate(p for g in opt.param_groups for p in g["params"]):
        for key, value in opt.state.get(p, {}).items():
            tensors[f"opt.{i}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["train_loss"] = torch.tensor(losses, dtype=torch.float64)
    meta = {"step": str(step), "elapsed_s": repr(elapsed)}
    files.atomic_write_safetensors(layout.resume_path(run_path), tensors, meta)


def load(run_path: Path, model, opt) -> tuple[int, list[float], float]:
    """Restore the model, optimizer and RNG; returns (step, losses so far, seconds trained)."""
    from safetensors import SafetensorError, safe_open

    path = layout.resume_path(run_path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError) as e:
        raise ArtifactError(f"corrupt resume checkpoint {path}: {e}; delete it to restart the run") from None
    model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        state = {k.split(".", 2)[2]: v.to(p.device) for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
        if state:
            opt.state[p] = state
    torch.set_rng_state(tensors["rng.torch"])
    return int(meta["step"]), tensors["train_loss"].tolist(), float(meta["elapsed_s"])


def remove(run_path: Path) -> None:
    """A complete run needs no resume point."""
    files.forget(layout.resume_path(run_path))
