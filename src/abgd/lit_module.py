"""The training half of the classifier: the LightningModule and its in-memory data module.

Kept apart from ``abgd.nets`` because ``import lightning`` costs seconds: only training needs
it. ``GenreClassifier`` gets its layers, buffers and inference methods from ``GenreNetMixin``,
so its checkpoints load into the Lightning-free ``GenreNet`` with the same keys and outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader

from abgd.nets import ArrayRows, GenreNetMixin, IndexBatches, network_hparams


class GenreClassifier(GenreNetMixin, L.LightningModule):
    """Multi-label genre classifier with its input preparation carried as buffers.

    ``options`` are ``abgd.nets.network_hparams``' keyword arguments (hidden, dropout, lr, …).
    The per-epoch losses are accumulated in tensors and read once per epoch: a ``self.log`` call
    or a ``.item()`` per step costs more than the step itself at batch 32.
    """

    def __init__(self, n_inputs: int, labels: Sequence[str], **options: Any) -> None:
        super().__init__()
        hparams = network_hparams(n_inputs, labels, **options)
        self._install(hparams)
        self.save_hyperparameters(hparams)
        self.loss_fn = nn.BCEWithLogitsLoss(reduction="mean")
        self._train_sum = torch.zeros((), dtype=torch.float64)
        self._train_count = 0
        self._holdout_sum = torch.zeros((), dtype=torch.float64)
        self._holdout_count = 0
        self.epoch_losses: list[tuple[float, float]] = []
        # Manual optimisation: Lightning's automatic closure costs ~10 % per step at batch 32.
        self.automatic_optimization = False

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Keras 1 Adam defaults: beta1 0.9, beta2 0.999, epsilon 1e-8 (PyTorch's defaults too).
        return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"], eps=1e-8)

    def on_train_epoch_start(self) -> None:
        self._train_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._train_count = 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor],
                      batch_idx: int) -> torch.Tensor:
        x, y = batch
        optimizer = self.optimizers(use_pl_optimizer=False)
        loss = self.loss_fn(self(x), y)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        self._train_sum += loss.detach() * x.shape[0]
        self._train_count += x.shape[0]
        return loss

    def on_validation_epoch_start(self) -> None:
        self._holdout_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._holdout_count = 0

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self._holdout_sum += self.loss_fn(self(x), y).double() * x.shape[0]
        self._holdout_count += x.shape[0]

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        holdout = float(self._holdout_sum) / max(self._holdout_count, 1)
        train = float(self._train_sum) / max(self._train_count, 1)
        self.epoch_losses.append((train, holdout))
        # One log call per epoch: EarlyStopping monitors it.
        self.log("holdout_loss", holdout, on_step=False, on_epoch=True, prog_bar=False,
                 logger=False)


class ArrayDataModule(L.LightningDataModule):
    """Fit and holdout batches sliced from one in-memory matrix by row index.

    The matrix is never split or copied: ``fit_rows``/``holdout_rows`` index into it, so memory
    stays at one float32 copy of the features (it can be a view of a NumPy array).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, fit_rows: torch.Tensor,
                 holdout_rows: torch.Tensor, batch_size: int = 32,
                 holdout_batch_size: int = 4096, seed: int = 0, min_batch: int = 1) -> None:
        super().__init__()
        self.rows = ArrayRows(x, y)
        self.fit_rows = fit_rows
        self.holdout_rows = holdout_rows
        self.batch_size = batch_size
        self.holdout_batch_size = holdout_batch_size
        self.seed = seed
        self.min_batch = min_batch
        self._train_sampler: IndexBatches | None = None

    def train_dataloader(self) -> DataLoader:
        # One sampler for the whole fit, so its generator advances from epoch to epoch.
        if self._train_sampler is None:
            self._train_sampler = IndexBatches(self.fit_rows, self.batch_size, True, self.seed,
                                               self.min_batch)
        return DataLoader(self.rows, sampler=self._train_sampler, batch_size=None,
                          num_workers=0)

    def val_dataloader(self) -> DataLoader:
        sampler = IndexBatches(self.holdout_rows, self.holdout_batch_size, False)
        return DataLoader(self.rows, sampler=sampler, batch_size=None, num_workers=0)
