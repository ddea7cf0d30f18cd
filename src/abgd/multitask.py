"""The multi-task network: one trunk, one sigmoid head per source, a loss masked per source.

Architecture (``hidden`` = the paper network's 256 by default)::

    2669 standardised features → Dropout → Linear(hidden) + ReLU → Dropout → [head_1 | … | head_S]

The heads are stored as one ``Linear(hidden, Σ N_s)`` whose outputs are named
``<source>:<label>`` (``abgd.nets.head_label``): S separate linear heads over one trunk are the
same function with the same parameters, and the checkpoint then loads into the plain
``abgd.nets.GenreNet`` that ``predict`` uses (``--head`` picks a source's columns).

Loss: binary cross-entropy averaged over the *annotated* cells only. A recording contributes to
the heads of the sources whose fit part holds it (training) or whose holdout part holds it
(early stopping); it never contributes a "negative" to a source that does not annotate it.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from abgd.inference import configure_torch
from abgd.lit_module import GenreClassifier
from abgd.metrics import macro_roc_auc
from abgd.nets import IndexBatches, fit_scaler
from abgd.training import TrainConfig, TrainResult, fit_module, run_metrics
from abgd.union import FIT, HOLDOUT, Union


class MaskedRows(Dataset):
    """Batches of (features, targets, per-source part codes), fetched by index tensors."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, parts: torch.Tensor) -> None:
        if not x.shape[0] == y.shape[0] == parts.shape[0]:
            raise ValueError("features, targets and parts need the same rows")
        self.x, self.y, self.parts = x, y, parts

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self.x.index_select(0, index), self.y.index_select(0, index).float(),
                self.parts.index_select(0, index))


class MultitaskDataModule(L.LightningDataModule):
    """Fit rows (any fit cell) shuffled per epoch; holdout rows (any holdout cell) in order."""

    def __init__(self, rows: MaskedRows, fit_rows: torch.Tensor, holdout_rows: torch.Tensor,
                 batch_size: int, holdout_batch_size: int, seed: int) -> None:
        super().__init__()
        self.rows = rows
        self.fit_rows, self.holdout_rows = fit_rows, holdout_rows
        self.batch_size, self.holdout_batch_size, self.seed = batch_size, holdout_batch_size, seed
        self._train_sampler: IndexBatches | None = None

    def train_dataloader(self) -> DataLoader:
        if self._train_sampler is None:
            self._train_sampler = IndexBatches(self.fit_rows, self.batch_size, True, self.seed)
        return DataLoader(self.rows, sampler=self._train_sampler, batch_size=None, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        sampler = IndexBatches(self.holdout_rows, self.holdout_batch_size, False)
        return DataLoader(self.rows, sampler=sampler, batch_size=None, num_workers=0)


class MultitaskClassifier(GenreClassifier):
    """``GenreClassifier`` with the masked loss; same layers, buffers and checkpoint keys."""

    def __init__(self, n_inputs: int, labels: list[str], heads: list[str],
                 **options: Any) -> None:
        super().__init__(n_inputs, labels, heads=heads, **options)
        head_of = {h: i for i, h in enumerate(heads)}
        # A plain tensor, not a buffer: the checkpoint must keep GenreNet's keys exactly.
        self._head_of_label = torch.tensor([head_of[label.split(":", 1)[0]] for label in labels],
                                           dtype=torch.int64)
        self._train_cells = torch.zeros((), dtype=torch.float64)
        self._holdout_cells = torch.zeros((), dtype=torch.float64)

    def masked_loss(self, x: torch.Tensor, y: torch.Tensor, parts: torch.Tensor,
                    part: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum of BCE over the cells whose source has the recording in ``part``, and their
        count."""
        head_of_label = self._head_of_label.to(parts.device)
        mask = (parts == part).index_select(1, head_of_label).to(y.dtype)
        cells = nn.functional.binary_cross_entropy_with_logits(self(x), y, reduction="none")
        return (cells * mask).sum(), mask.sum()

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._train_cells = torch.zeros((), dtype=torch.float64, device=self.device)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y, parts = batch
        optimizer = self.optimizers(use_pl_optimizer=False)
        total, cells = self.masked_loss(x, y, parts, FIT)
        loss = total / cells.clamp(min=1.0)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        self._train_sum += total.detach().double()
        self._train_cells += cells.detach().double()
        return loss

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        self._holdout_cells = torch.zeros((), dtype=torch.float64, device=self.device)

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, y, parts = batch
        total, cells = self.masked_loss(x, y, parts, HOLDOUT)
        self._holdout_sum += total.double()
        self._holdout_cells += cells.double()

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        holdout = float(self._holdout_sum) / max(float(self._holdout_cells), 1.0)
        train = float(self._train_sum) / max(float(self._train_cells), 1.0)
        self.epoch_losses.append((train, holdout))
        self.log("holdout_loss", holdout, on_step=False, on_epoch=True, prog_bar=False,
                 logger=False)


@torch.inference_mode()
def head_scores(module: MultitaskClassifier, xt: torch.Tensor, rows: np.ndarray,
                columns: np.ndarray, batch_size: int) -> np.ndarray:
    """Sigmoid scores of one head's columns for ``rows``: only rows × that head's labels are
    ever allocated (scoring every head would add a union-sized float32 matrix)."""
    module.eval()
    out = np.empty((len(rows), len(columns)), dtype=np.float32)
    index, cols = torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(columns)
    for start in range(0, len(rows), batch_size):
        batch = xt.index_select(0, index[start:start + batch_size])
        out[start:start + len(batch)] = torch.sigmoid(module(batch)).index_select(1, cols).numpy()
    return out


def train_multitask(x: np.ndarray, union: Union, model_params: dict[str, Any],
                    config: TrainConfig) -> TrainResult:
    """Fit the multi-task network on ``x`` (one row per union recording, float32, used in place).

    The standardisation is fitted on the recordings with any fit cell. Metrics carry one holdout
    macro ROC AUC per source, each on that source's own holdout recordings and head.
    """
    if x.shape[0] != len(union.mbids):
        raise ValueError(f"{x.shape[0]} feature rows for {len(union.mbids)} union recordings")
    fit_rows, holdout_rows = union.rows(FIT), union.rows(HOLDOUT)
    if len(fit_rows) == 0 or len(holdout_rows) == 0:
        raise ValueError(f"need fit and holdout rows, got {len(fit_rows)} and {len(holdout_rows)}")
    configure_torch(config.threads, config.accelerator)
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = MultitaskClassifier(x.shape[1], union.labels, union.heads, **model_params)
    if config.standardize:
        module.set_scaler(*fit_scaler(x, fit_rows))
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # no copy for float32
    rows = MaskedRows(xt, torch.from_numpy(union.y), torch.from_numpy(union.parts))
    data = MultitaskDataModule(rows, torch.as_tensor(fit_rows), torch.as_tensor(holdout_rows),
                               config.batch_size, config.holdout_batch_size, config.seed)
    recorder, wall, device = fit_module(module, data, config)
    module = module.cpu().eval()
    per_source: dict[str, Any] = {}
    for h, head in enumerate(union.heads):
        rows_h = union.head_rows(h, HOLDOUT)
        columns = np.flatnonzero(union.head_of_label == h)
        scores = head_scores(module, xt, rows_h, columns, config.holdout_batch_size)
        auc, n_auc = macro_roc_auc(union.y[np.ix_(rows_h, columns)], scores)
        per_source[head] = {"holdout_macro_roc_auc": auc, "holdout_auc_labels": n_auc,
                            "n_fit": int((union.parts[:, h] == FIT).sum()),
                            "n_holdout": len(rows_h), "n_labels": len(columns)}
    metrics = run_metrics(recorder, config, module, n_fit=len(fit_rows), wall=wall,
                          device=device)
    metrics.update({"sources": per_source, "n_union": len(union.mbids),
                    "n_fit": len(fit_rows), "n_holdout": len(holdout_rows),
                    "n_fit_and_holdout": union.crossing(), "n_labels": len(union.labels)})
    return TrainResult(module=module, epochs=recorder.epochs, metrics=metrics)
