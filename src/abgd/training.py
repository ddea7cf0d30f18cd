"""One pure ``train()`` shared by ``train_single`` and ``train_fusion``.

It takes arrays in memory and returns the trained module with its metrics; reading inputs and
writing the model folder stay in the CLIs. Protocol (dataset-spec §7.1), with one deliberate
difference: early stopping on the holdout loss **restores the best epoch's weights**, whereas the
authors' Keras 1 code kept the weights of the last epoch (``patience`` epochs after the best).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping
from lightning.pytorch.plugins.environments import LightningEnvironment

from abgd.inference import configure_torch, score_rows
from abgd.io import atomic_open, atomic_path
from abgd.lit_module import ArrayDataModule, GenreClassifier
from abgd.metrics import macro_roc_auc
from abgd.nets import fit_scaler
from abgd.progress import interactive

log = logging.getLogger("abgd.training")

EPOCH_COLUMNS = ("epoch", "train_loss", "holdout_loss", "seconds", "train_seconds")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    batch_size: int = 32
    max_epochs: int = 100
    patience: int = 4
    threads: int | None = None
    accelerator: str = "auto"
    holdout_batch_size: int = 4096
    standardize: bool = True


@dataclass
class TrainResult:
    module: GenreClassifier  # best-epoch weights, on the CPU, in eval mode
    epochs: list[dict[str, float]]
    metrics: dict[str, Any] = field(default_factory=dict)


class EpochRecorder(Callback):
    """Times each epoch and keeps an in-memory copy of the best weights seen so far.

    Runs in ``on_validation_end``, after the module has computed the epoch's holdout loss.
    """

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []
        self.best_loss = float("inf")
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self._start = 0.0
        self._train_seconds = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._train_seconds = time.perf_counter() - self._start

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        train_loss, holdout_loss = pl_module.epoch_losses[-1]
        epoch = len(self.epochs) + 1
        self.epochs.append({
            "epoch": epoch, "train_loss": train_loss, "holdout_loss": holdout_loss,
            "seconds": time.perf_counter() - self._start, "train_seconds": self._train_seconds,
        })
        log.info("epoch %d: train loss %.6f, holdout loss %.6f, %.1f s", epoch, train_loss,
                 holdout_loss, self.epochs[-1]["seconds"])
        if holdout_loss < self.best_loss:
            self.best_loss = holdout_loss
            self.best_epoch = epoch
            self.best_state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}


@contextlib.contextmanager
def restore_determinism(enabled: bool, warn_only: bool) -> Iterator[None]:
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def fit_module(module: L.LightningModule, data: L.LightningDataModule, config: TrainConfig,
               ) -> tuple[EpochRecorder, float, str]:
    """Lightning's fit with early stopping on ``holdout_loss``; the module ends with its best
    epoch's weights. Returns the epoch recorder, the wall time and the device used.

    Shared by the single-source, fusion and multi-task networks: any module that appends
    ``(train_loss, holdout_loss)`` to ``epoch_losses`` and logs ``holdout_loss`` fits here.
    """
    recorder = EpochRecorder()
    stopper = EarlyStopping(monitor="holdout_loss", patience=config.patience, mode="min",
                            min_delta=0.0, check_finite=True)
    # Lightning's deterministic=True switches torch's global flag on for the whole process;
    # restore it afterwards so callers (and other tests) keep their own setting.
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with (tempfile.TemporaryDirectory(prefix="abgd-train-") as root, warnings.catch_warnings(),
          restore_determinism(was_deterministic, was_warn_only)):
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")
        # Lightning's resume logic still probes for SLURM at fit time, whatever the plugin
        # below, and hints at srun for multi-process runs; these jobs are single-process
        warnings.filterwarnings("ignore", message=".*The `srun` command is available.*")
        trainer = L.Trainer(
            accelerator=config.accelerator, devices=1, deterministic=True,
            max_epochs=config.max_epochs, callbacks=[recorder, stopper], logger=False,
            enable_checkpointing=False, enable_progress_bar=interactive(),
            enable_model_summary=False, num_sanity_val_steps=0, use_distributed_sampler=False,
            default_root_dir=root, inference_mode=True,
            # One process on one device whatever the scheduler: Snakemake, not Lightning, owns
            # submission and retries. Left to detect SLURM, Lightning would install its
            # SIGUSR1 auto-requeue inside cluster jobs and, on any host with `srun`, warn in
            # every training log that srun "is not used".
            plugins=[LightningEnvironment()],
        )
        started = time.perf_counter()
        trainer.fit(module, datamodule=data)
        wall = time.perf_counter() - started
    if recorder.best_state is None:
        raise RuntimeError("training finished without a single holdout evaluation")
    module.load_state_dict(recorder.best_state)
    return recorder, wall, str(trainer.strategy.root_device)


def train(x: np.ndarray, y: np.ndarray, fit_rows: np.ndarray, holdout_rows: np.ndarray,
          labels: Sequence[str], model_params: dict[str, Any], config: TrainConfig,
          ) -> TrainResult:
    """Fit a ``GenreClassifier`` on ``x[fit_rows]``, early-stopping on ``x[holdout_rows]``.

    ``x`` is float32 (rows × inputs) and is only indexed, never copied; ``y`` is a 0/1 matrix
    (rows × labels). ``model_params`` are ``GenreClassifier`` keyword arguments besides
    ``n_inputs`` and ``labels``. Deterministic on the CPU for a given seed and thread count.
    """
    if len(fit_rows) == 0 or len(holdout_rows) == 0:
        raise ValueError(f"need fit and holdout rows, got {len(fit_rows)} and {len(holdout_rows)}")
    if y.shape != (x.shape[0], len(labels)):
        raise ValueError(f"labels matrix {y.shape} does not match {x.shape[0]} rows × "
                         f"{len(labels)} labels")
    configure_torch(config.threads, config.accelerator)
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = GenreClassifier(n_inputs=x.shape[1], labels=list(labels), **model_params)
    # BatchNorm cannot normalise a batch of one row: fold a trailing singleton into its neighbour.
    min_batch = 2 if module.uses_batch_norm else 1
    if len(fit_rows) < min_batch:
        raise ValueError(f"a network with BatchNorm needs at least 2 fit rows, got {len(fit_rows)}")
    if config.standardize:
        mean, scale = fit_scaler(x, fit_rows)
        module.set_scaler(mean, scale)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.uint8))
    data = ArrayDataModule(xt, yt, torch.as_tensor(fit_rows), torch.as_tensor(holdout_rows),
                           config.batch_size, config.holdout_batch_size, config.seed, min_batch)
    recorder, wall, device = fit_module(module, data, config)
    module = module.cpu().eval()
    holdout_scores = score_rows(module, xt, np.asarray(holdout_rows), config.holdout_batch_size)
    auc, n_auc = macro_roc_auc(np.asarray(y)[np.asarray(holdout_rows)], holdout_scores)
    metrics = run_metrics(recorder, config, module, n_fit=len(fit_rows), wall=wall,
                          device=device)
    metrics.update({"holdout_macro_roc_auc": auc, "holdout_auc_labels": n_auc,
                    "n_labels": len(labels), "n_fit": len(fit_rows),
                    "n_holdout": len(holdout_rows)})
    return TrainResult(module=module, epochs=recorder.epochs, metrics=metrics)


def run_metrics(recorder: EpochRecorder, config: TrainConfig, module: GenreClassifier,
                n_fit: int, wall: float, device: str) -> dict[str, Any]:
    """The ``metrics.json`` entries every network job reports about its fit: best epoch, early
    stop, throughput (fit rows per second of batches), wall time, device, configuration and
    hyper-parameters. Shared by ``train`` and ``abgd.multitask`` so the two cannot drift."""
    train_seconds = sum(e["train_seconds"] for e in recorder.epochs)
    return {
        "best_epoch": recorder.best_epoch,
        "best_holdout_loss": recorder.best_loss,
        "epochs_run": len(recorder.epochs),
        "stopped_early": len(recorder.epochs) < config.max_epochs,
        "samples_per_second": n_fit * len(recorder.epochs) / max(train_seconds, 1e-9),
        "wall_seconds": wall,
        "device": device,
        "config": asdict(config),
        "model": dict(module.hparams, labels=len(module.labels)),
    }


def save_checkpoint(module: GenreClassifier, path: str | os.PathLike[str]) -> None:
    """A Lightning-format checkpoint: ``GenreClassifier.load_from_checkpoint`` reads it, and so
    does the Lightning-free ``abgd.inference.load_network`` (``state_dict`` and
    ``hyper_parameters`` are all it uses)."""
    checkpoint = {
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "hyper_parameters": dict(module.hparams),
        "pytorch-lightning_version": L.__version__,
        "epoch": 0,
        "global_step": 0,
    }
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def load_model(model_dir: str | os.PathLike[str]) -> GenreClassifier:
    """The trained LightningModule of a model folder, on the CPU in eval mode.

    For scoring and embedding use ``abgd.inference.load_network``: same outputs, no Lightning.
    """
    path = Path(model_dir) / "model.ckpt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint (run train_single/train_fusion first)")
    module = GenreClassifier.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    return module.eval()


def write_epochs(path: str | os.PathLike[str], epochs: Sequence[dict[str, float]]) -> None:
    with atomic_open(path) as handle:
        handle.write(",".join(EPOCH_COLUMNS) + "\n")
        for row in epochs:
            handle.write(",".join(repr(row[c]) if c != "epoch" else str(row[c])
                                  for c in EPOCH_COLUMNS) + "\n")


def write_model_dir(out_dir: str | os.PathLike[str], result: TrainResult,
                    metrics_extra: dict[str, Any]) -> None:
    """The four files of a model folder; ``metrics.json`` last, as the completion marker."""
    from abgd.io import write_json

    out = Path(out_dir)
    save_checkpoint(result.module, out / "model.ckpt")
    write_json(out / "labels.json", result.module.labels)
    write_epochs(out / "epochs.csv", result.epochs)
    write_json(out / "metrics.json", {**result.metrics, **metrics_extra})
