"""Reading other people's checkpoint files as data, never as code.

A checkpoint is tensors: safetensors files are preferred (no code can be in them); a pickled
`.bin` / `.pth` / `.pt` file is read with `torch.load(weights_only=True)`, whose unpickler builds
only tensors and plain containers, so a file that would need arbitrary unpickling (a class of
its own, a `__reduce__` that runs a command) is refused, not executed. A Hugging Face config that
asks for `trust_remote_code` (`auto_map`) is refused by the adapter. Every failure is a
`CheckpointError` that names the file and says what to do.

    read_state(file)            one file's tensors
    read_hf_folder(folder)      (config.json as a dict, every tensor) of a Hugging Face checkpoint
                                folder, single-file or sharded (`*.index.json`)
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch
from torch import Tensor

SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")  # not our layout: Hugging Face's
PICKLED = ("pytorch_model.bin", "pytorch_model.bin.index.json")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read as data; the message names the file and what to do."""


def read_state(path: Path | str) -> dict[str, Tensor]:
    """The tensors of one checkpoint file (`.safetensors`, or a pickled `.bin`/`.pth`/`.pt`)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({e}); download it again") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused, the file needs arbitrary unpickling (code, not only tensors) to load: "
            f"{str(e).splitlines()[0][:200]}. Re-save its state dict with safetensors, or as plain tensors"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({str(e)[:200]}); download it again") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise CheckpointError(
            f"{path}: not a state dict (a mapping of names to tensors) but {type(state).__name__}; "
            "save `model.state_dict()`"
        )
    return state


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def weights_files(folder: Path) -> list[Path]:
    """The weight files of a Hugging Face checkpoint folder, safetensors preferred; [] if none."""
    folder = Path(folder)
    for name in (*SAFETENSORS, *PICKLED):
        path = folder / name
        if not path.is_file():
            continue
        if not name.endswith(".index.json"):
            return [path]
        index = read_json(path).get("weight_map")
        if not isinstance(index, dict):
            raise CheckpointError(f"{path}: no 'weight_map' in the index")
        return [folder / shard for shard in sorted(set(index.values()))]
    return []


def has_weights(folder: Path) -> bool:
    return any((Path(folder) / name).is_file() for name in (*SAFETENSORS, *PICKLED))


def read_hf_folder(folder: Path | str) -> tuple[dict, dict[str, Tensor]]:
    """(config.json, tensors) of a Hugging Face checkpoint folder (`save_pretrained`'s layout)."""
    folder = Path(folder)
    config = read_json(folder / "config.json")
    files = weights_files(folder)
    if not files:
        raise CheckpointError(
            f"{folder}: no model.safetensors or pytorch_model.bin (nor a sharded index); is the download complete?"
        )
    state: dict[str, Tensor] = {}
    for file in files:
        state.update(read_state(file))
    return config, state
