"""What ``predict`` and ``embed`` need, without Lightning: loading, reading inputs, scoring.

A study runs about twenty prediction and embedding jobs; each one used to import Lightning
(seconds) only to read a checkpoint and run a forward pass. Nothing here, nor anything it
imports, may import ``lightning``; ``tests/test_inference.py`` checks it in a fresh process.
The training code re-exports these names from ``abgd.training`` for older callers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from abgd.nets import GenreNet, GenreNetMixin

log = logging.getLogger("abgd.inference")

DETERMINISTIC_CUBLAS = (":4096:8", ":16:8")


def configure_torch(threads: int | None, accelerator: str) -> None:
    """Thread count and cuBLAS determinism, which must be set before any CUDA work.

    cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` when its first handle is created; with deterministic
    algorithms on and the variable unset, the first CUDA matmul raises. The variable is set for
    every accelerator that may resolve to a GPU (harmless on the CPU) and never overrides a
    deterministic value the user chose.
    """
    if threads:
        torch.set_num_threads(threads)
    if accelerator == "cpu":
        return
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in DETERMINISTIC_CUBLAS:
        if torch.cuda.is_initialized():
            log.warning("CUDA was initialised before CUBLAS_WORKSPACE_CONFIG was set: GPU "
                        "training may not be deterministic (set it in the environment)")
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = DETERMINISTIC_CUBLAS[0]


# --- the model -----------------------------------------------------------------------------------

def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state_dict and hyper-parameters of a ``save_checkpoint`` file.

    ``weights_only=True`` refuses pickled code. Any unreadable or misshapen file becomes a
    ValueError naming it (the cause chained), so a bad model folder is found at once in a log.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint (run train_single/train_fusion first)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise  # already names the file
    except Exception as error:  # unpickling, zip and EOF errors have no common base class
        raise ValueError(f"{path}: not a readable checkpoint: {error}") from error
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path}: a checkpoint holds a dict, found {type(checkpoint).__name__}")
    missing = [key for key in ("state_dict", "hyper_parameters")
               if not isinstance(checkpoint.get(key), dict)]
    if missing:
        raise ValueError(f"{path}: not a model checkpoint (no {' or '.join(missing)} dict)")
    return checkpoint["state_dict"], dict(checkpoint["hyper_parameters"])


def load_network(model_dir: str | os.PathLike[str]) -> GenreNet:
    """The trained network of a model folder, on the CPU in eval mode, without Lightning.

    Layers are built on the meta device (no random initialisation to throw away: a wide
    network has ~10^8 weights) and take the checkpoint's tensors; ``strict`` loading refuses a
    checkpoint whose keys or shapes do not match its own hyper-parameters.
    """
    path = Path(model_dir) / "model.ckpt"
    state, hparams = read_checkpoint(path)
    try:
        with torch.device("meta"):
            network = GenreNet(**hparams)
        network.load_state_dict(state, strict=True, assign=True)
    except (TypeError, ValueError, KeyError, RuntimeError) as error:
        raise ValueError(f"{path}: checkpoint does not fit its hyper-parameters: {error}",
                         ) from error
    return network.eval()


@torch.inference_mode()
def score_rows(module: GenreNetMixin, x: np.ndarray | torch.Tensor,
               rows: np.ndarray | None = None, batch_size: int = 4096,
               output: str = "scores") -> np.ndarray:
    """Sigmoid scores (``output="scores"``) or hidden activations (``"embed"``) for rows of x.

    ``module`` is a ``GenreNet`` or a ``GenreClassifier``: the same code scores both.
    """
    net: Any = module  # an nn.Module carrying the mixin
    net.eval()
    device = module.feature_mean.device  # plain modules have no ``.device``; buffers do
    xt = torch.as_tensor(x)
    index = torch.arange(xt.shape[0]) if rows is None else torch.as_tensor(rows, dtype=torch.int64)
    width = module.embedding_width if output == "embed" else len(module.labels)
    out = np.empty((len(index), width), dtype=np.float32)
    for start in range(0, len(index), batch_size):
        batch = xt.index_select(0, index[start:start + batch_size]).to(device)
        values = module.embed(batch) if output == "embed" else torch.sigmoid(net(batch))
        out[start:start + len(batch)] = values.float().cpu().numpy()
    return out


# --- inputs shared by the training, embedding and prediction steps ------------------------------

def check_finite(x: np.ndarray, names: Sequence[str], what: str, chunk_rows: int = 8192) -> None:
    """Fail on NaN/inf, naming the first offending records: they would poison the scaler."""
    bad: list[str] = []
    for start in range(0, x.shape[0], chunk_rows):
        rows = ~np.isfinite(x[start:start + chunk_rows]).all(axis=1)
        bad += [names[start + i] for i in np.flatnonzero(rows)]
    if bad:
        raise ValueError(f"{what}: {len(bad)} rows with NaN or infinite values, e.g. {bad[:5]}")


def read_matrix(paths: Sequence[str | os.PathLike[str]], mbids: Sequence[str],
                batch_rows: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Float32 rows of the ``mbid``-keyed Parquet files, in the order of ``mbids``.

    Streams record batches so only the requested rows are ever held; the first part holding
    an MBID wins. Returns the matrix and a boolean found-mask.
    """
    import pyarrow.parquet as pq

    where = {mbid: i for i, mbid in enumerate(mbids)}
    if len(where) != len(mbids):
        raise ValueError("requested MBIDs contain duplicates")
    out: np.ndarray | None = None
    found = np.zeros(len(mbids), dtype=bool)
    for path in paths:
        handle = pq.ParquetFile(path)
        names = handle.schema_arrow.names
        if "mbid" not in names:
            raise ValueError(f"{path}: no 'mbid' column")
        columns = [n for n in names if n != "mbid"]
        if out is None:
            out = np.zeros((len(mbids), len(columns)), dtype=np.float32)
        elif len(columns) != out.shape[1]:
            raise ValueError(f"{path}: {len(columns)} value columns, expected {out.shape[1]}")
        for batch in handle.iter_batches(batch_size=batch_rows):
            keys = batch.column("mbid").to_pylist()
            hits = [(j, where[k]) for j, k in enumerate(keys) if k in where and not found[where[k]]]
            if not hits:
                continue
            src = np.fromiter((j for j, _ in hits), dtype=np.int64, count=len(hits))
            dst = np.fromiter((i for _, i in hits), dtype=np.int64, count=len(hits))
            taken = batch.take(src)
            out[dst] = np.column_stack([
                taken.column(c).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
                for c in columns])
            found[dst] = True
    if out is None:
        raise ValueError("no Parquet input given")
    return out, found


def read_features(paths: Sequence[str | os.PathLike[str]], mbids: Sequence[str],
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows for ``mbids`` (Parquet parts or manifests) and the found-mask."""
    from abgd.arrays import load_feature_matrix

    return load_feature_matrix([str(p) for p in paths], list(mbids))


def read_embeddings(paths: Sequence[str | os.PathLike[str]], mbids: Sequence[str],
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the embeddings of each file (same width each) for ``mbids``.

    The found-mask is the rows present in *every* file.
    """
    blocks, found = [], np.ones(len(mbids), dtype=bool)
    for path in paths:
        block, hit = read_matrix([path], mbids)
        if blocks and block.shape[1] != blocks[0].shape[1]:
            raise ValueError(f"{path}: width {block.shape[1]}, expected {blocks[0].shape[1]}")
        blocks.append(block)
        found &= hit
    return np.concatenate(blocks, axis=1), found


def require_found(found: np.ndarray, mbids: Sequence[str], what: str) -> None:
    """Fail naming how many and which records lack inputs: nothing is dropped silently."""
    missing = [mbids[i] for i in np.flatnonzero(~found)]
    if missing:
        raise ValueError(f"{len(missing)} of {len(mbids)} recordings have no {what}, "
                         f"e.g. {missing[:5]} (restrict the ground truth to recordings with "
                         f"{what} first)")
