"""A checkpoint is data, not code: pickles are read with `weights_only=True`, one that needs
arbitrary unpickling is refused (and its code never runs), a corrupt or truncated file is named."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from training.core.checkpoints import CheckpointError, read_hf_folder, read_state


class _RunsCode:
    """Unpickling this calls os.system: what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "pytorch_model.bin"
    torch.save({"w": torch.zeros(2), "payload": _RunsCode(marker)}, path)
    with pytest.raises(CheckpointError, match="refused, the file needs arbitrary unpickling") as e:
        read_state(path)
    assert str(path) in str(e.value)
    assert not marker.exists()


def test_a_raw_pickle_with_a_reduce_payload_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model_100.pth"
    path.write_bytes(pickle.dumps(_RunsCode(marker)))  # not even torch's zip format
    with pytest.raises(CheckpointError, match=str(path)):
        read_state(path)
    assert not marker.exists()


def test_a_plain_state_dict_loads(tmp_path):
    path = tmp_path / "model_5.pth"
    torch.save({"embed.W_E": torch.ones(3, 2)}, path)
    assert torch.equal(read_state(path)["embed.W_E"], torch.ones(3, 2))


def test_a_pickle_that_is_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "model_5.pth"
    torch.save([torch.ones(1)], path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_state(path)


@pytest.mark.parametrize("name", ["model.safetensors", "pytorch_model.bin"])
def test_a_truncated_checkpoint_is_named_with_what_to_do(tmp_path, name):
    from safetensors.torch import save_file

    path = tmp_path / name
    tensors = {"w": torch.randn(64, 64)}
    save_file(tensors, str(path)) if name.endswith("safetensors") else torch.save(tensors, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated.*download it again") as e:
        read_state(path)
    assert str(path) in str(e.value)


def test_a_folder_without_weights_says_what_is_missing(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no model.safetensors or pytorch_model.bin"):
        read_hf_folder(tmp_path)
