"""Atomic writes, checked reads, and the checksum of every file written.

Every write goes to a temp file in the same folder and then `os.replace`: a reader sees the old
file or the new one, never a part. Each write also records the file's SHA-256 in its folder's
`checksums.json`, so `verify` can tell a whole file from one damaged after it was written (a
per-snapshot metrics file corrupted in its data still parses). The record is two-phase so that a
writer killed at any moment leaves no false alarm: before the replace the folder's entry
accepts the old digest or the new one, after it only the new one.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from training.core.artifacts.errors import ArtifactError
from training.core.artifacts.layout import CHECKSUMS


def _write(f, data: bytes, path: Path) -> None:
    """Write the bytes meant for `path` to its temp file `f` (tests patch it to fill the disk)."""
    f.write(data)  # no fsync: os.replace is atomic against a killed process, which is the
    # failure we guard against; fsync per snapshot costs more than the training step


def _replace(path: Path, data: bytes) -> None:
    """The temp-file-and-replace write, without recording a checksum."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise ArtifactError(f"cannot write {path}: {e.strerror or e}; nothing was changed") from None
    try:
        with os.fdopen(fd, "wb") as f:
            _write(f, data, path)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ArtifactError(f"cannot write {path}: {e.strerror or e}; its previous version is intact") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _folder_lock(folder: Path):
    """An exclusive lock on the folder itself (flock on its descriptor: no lock file), held
    while its checksums are read and rewritten, so two writers in one folder keep both entries."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def checksums(folder: Path) -> dict[str, list[str]]:
    """The folder's recorded digests: file name -> the digests it may have (one, or two while a
    write is under way); {} if none were recorded (a folder written before checksums existed)."""
    try:
        raw = json.loads((Path(folder) / CHECKSUMS).read_text())
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _save_checksums(folder: Path, entries: dict[str, list[str]]) -> None:
    _replace(folder / CHECKSUMS, (json.dumps(entries, indent=0, sort_keys=True) + "\n").encode())


def atomic_write_bytes(path: Path, data: bytes) -> str:
    """Write `data` to `path` atomically and record its SHA-256 (returned). A failed write (a full
    disk) leaves the old file and raises ArtifactError naming the file."""
    path = Path(path)
    digest = hashlib.sha256(data).hexdigest()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ArtifactError(f"cannot write {path}: {e.strerror or e}; nothing was changed") from None
    with _folder_lock(path.parent):
        entries = checksums(path.parent)  # read once: the lock keeps it current while we hold it
        entry = entries.get(path.name)
        recorded = entry or ([sha256_file(path)] if path.is_file() else [])  # an unrecorded file's digest
        old = [d for d in recorded[:1] if d != digest]
        if entry != [digest]:
            try:
                _save_checksums(path.parent, entries | {path.name: [digest, *old]})
            except ArtifactError as e:
                raise ArtifactError(
                    f"cannot write {path} (its folder's {CHECKSUMS}: {e}); nothing was changed"
                ) from None
        _replace(path, data)
        if old:
            try:
                _save_checksums(path.parent, entries | {path.name: [digest]})
            except ArtifactError:  # the file is written; both digests stay accepted, still true
                pass
    return digest


def record_checksums(folder: Path) -> None:
    """Record the digest of every file already in `folder` (one written by another library,
    e.g. a tokenizer's `save_pretrained`)."""
    folder = Path(folder)
    with _folder_lock(folder):
        entries = checksums(folder)
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.name != CHECKSUMS and not p.name.startswith("."):
                entries[p.name] = [sha256_file(p)]
        _save_checksums(folder, entries)


def forget(path: Path) -> None:
    """Delete a file and its recorded digest."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    with _folder_lock(path.parent):
        path.unlink(missing_ok=True)
        entries = checksums(path.parent)
        if entries.pop(path.name, None) is None:
            return
        if entries:
            _save_checksums(path.parent, entries)
        else:  # the folder's last file: leave the folder as if nothing had been recorded there
            (path.parent / CHECKSUMS).unlink(missing_ok=True)


def check_file(path: Path, ledger: dict[str, list[str]] | None = None) -> str | None:
    """Why the file at `path` is not whole ("missing", "does not match its recorded SHA-256"),
    or None if it is whole or has no recorded digest. `ledger`: its folder's `checksums()`, when
    the caller has read them already (`verify`, a folder at a time)."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    recorded = (checksums(path.parent) if ledger is None else ledger).get(path.name)
    if recorded and sha256_file(path) not in recorded:
        return "does not match its recorded SHA-256 (changed after it was written)"
    return None


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())


def atomic_write_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_safetensors(path: Path, tensors: dict, metadata: dict[str, str] | None = None) -> str:
    """Write torch tensors as safetensors atomically; return the file's sha256."""
    from safetensors.torch import save

    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    return atomic_write_bytes(path, data)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"corrupt file {path}: {e}") from None


def read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}") from None
    except (ValueError, OSError) as e:
        raise ArtifactError(f"corrupt file {path}: {e}") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
