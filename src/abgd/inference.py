"""What ``predict`` and ``embed`` need, without Lightning: loading a checkpoint and scoring.

A study runs about twenty prediction and embedding jobs; each one used to import Lightning
(seconds) only to read a checkpoint and run a forward pass. Nothing here, nor anything it
imports, may import ``lightning``; ``tests/test_inference.py`` checks it in a fresh process.
Reading their inputs is ``abgd.inputs``' job (torch-free, shared with LightGBM).
"""

from __future__ import annotations

import logging
import os
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
