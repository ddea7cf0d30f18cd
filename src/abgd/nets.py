"""The study's networks in plain PyTorch, and the in-memory batching that feeds them.

This module must not import Lightning: ``predict`` and ``embed`` load checkpoints into
``GenreNet`` and would otherwise pay seconds of imports per job. The training side
(``GenreClassifier``, ``ArrayDataModule``) lives in ``abgd.lit_module`` and shares
``GenreNetMixin`` with ``GenreNet``.

One set of hyper-parameters covers both systems of the paper (dataset-spec §7):

* single-source (``architecture="paper"``, the default): 2669 standardised features → Dropout →
  Linear(hidden) + ReLU → Dropout → Linear(N)
* single-source (``architecture="wide"``, after JKU's MediaEval 2017 winner): Dropout → K parallel
  branches of Linear(branch_width) [+ BatchNorm] + an activation each (e.g. ReLU, tanh, sigmoid) →
  concatenated → Dropout → Linear(hidden) [+ BatchNorm] + ReLU → Dropout → Linear(N)
* fusion: k embeddings, each L2-normalised → concatenated → Dropout → Linear(N) (``hidden=0``)

Every network ends in ``[..., Dropout, Linear(N)]``, so the embedding (the last hidden layer after
its activation, ``hidden`` wide) is ``net[:-2]`` whatever the architecture: fusion sizes its input
from the embedding files and never needs to know which network produced them.

The input preparation (standardisation, per-block L2 normalisation) lives *inside* the module as
buffers and hyper-parameters, so a checkpoint alone reproduces the scores: no scaler file can drift
away from its weights, and ``predict``/``embed`` feed raw features or raw embeddings.

Initialisation: Keras 1 ``init="uniform"`` (U(−0.05, 0.05) weights, zero biases) by default, as in
the authors' code; ``init="torch"`` keeps PyTorch's Kaiming-uniform default.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Sampler

KERAS_UNIFORM_LIMIT = 0.05


ARCHITECTURES = ("paper", "wide")
BATCH_NORM = ("none", "top", "all")
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
}
DEFAULT_BRANCH_ACTIVATIONS = ("relu", "tanh", "sigmoid")


def init_linear_layers(net: nn.Module, init: str) -> None:
    """Keras 1 uniform init on every Linear, in module order (so seeded draws are reproducible)."""
    if init == "keras":
        for layer in net.modules():
            if isinstance(layer, nn.Linear):
                nn.init.uniform_(layer.weight, -KERAS_UNIFORM_LIMIT, KERAS_UNIFORM_LIMIT)
                nn.init.zeros_(layer.bias)
    elif init != "torch":
        raise ValueError(f"unknown init {init!r} (expected 'keras' or 'torch')")


def build_network(n_inputs: int, n_outputs: int, hidden: int, dropout: float,
                  input_dropout: float, init: str = "keras") -> nn.Sequential:
    """The layers as an ``nn.Sequential``; ``hidden=0`` gives the fusion's linear read-out."""
    layers: list[nn.Module] = [nn.Dropout(input_dropout)]
    if hidden > 0:
        layers += [nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Dropout(dropout),
                   nn.Linear(hidden, n_outputs)]
    else:
        layers.append(nn.Linear(n_inputs, n_outputs))
    net = nn.Sequential(*layers)
    init_linear_layers(net, init)
    return net


class Concat(nn.Module):
    """Parallel blocks applied to one input, their outputs side by side.

    Different activations over the same projection width let the next layer mix saturating and
    non-saturating views of the input; that is the whole point of JKU's three branches.
    """

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([block(x) for block in self.blocks], dim=1)


def check_wide_params(hidden: int, branch_width: int, branch_activations: Sequence[str],
                      batch_norm: str) -> None:
    """Reject a wide configuration before any layer is allocated (8000-unit layers are big)."""
    if hidden <= 0:
        raise ValueError(f"the wide network needs a top layer (hidden={hidden})")
    if branch_width <= 0:
        raise ValueError(f"branch_width must be positive, got {branch_width}")
    if not branch_activations:
        raise ValueError("the wide network needs at least one branch")
    unknown = sorted(set(branch_activations) - set(ACTIVATIONS))
    if unknown:
        raise ValueError(f"unknown branch activations {unknown} (expected {sorted(ACTIVATIONS)})")
    if batch_norm not in BATCH_NORM:
        raise ValueError(f"unknown batch_norm {batch_norm!r} (expected one of {BATCH_NORM})")


def build_wide_network(n_inputs: int, n_outputs: int, hidden: int, dropout: float,
                       input_dropout: float, branch_width: int = 4000,
                       branch_activations: Sequence[str] = DEFAULT_BRANCH_ACTIVATIONS,
                       batch_norm: str = "top", branch_dropout: float | None = None,
                       init: str = "keras") -> nn.Sequential:
    """JKU-style wide MLP: parallel branches → concat → top layer (the embedding) → outputs.

    ``batch_norm``: ``"top"`` normalises the top layer only (as JKU), ``"all"`` the branches too.
    ``branch_dropout`` (dropout on the concatenated branches) defaults to ``dropout``.
    """
    check_wide_params(hidden, branch_width, branch_activations, batch_norm)
    branches = []
    for name in branch_activations:
        block: list[nn.Module] = [nn.Linear(n_inputs, branch_width)]
        if batch_norm == "all":
            block.append(nn.BatchNorm1d(branch_width))
        block.append(ACTIVATIONS[name]())
        branches.append(nn.Sequential(*block))
    top: list[nn.Module] = [nn.Linear(branch_width * len(branches), hidden)]
    if batch_norm != "none":
        top.append(nn.BatchNorm1d(hidden))
    net = nn.Sequential(
        nn.Dropout(input_dropout), Concat(branches),
        nn.Dropout(dropout if branch_dropout is None else branch_dropout),
        *top, nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_outputs),
    )
    init_linear_layers(net, init)
    return net


def network_hparams(n_inputs: int, labels: Sequence[str], hidden: int = 256,
                    dropout: float = 0.5, input_dropout: float = 0.5, lr: float = 1e-3,
                    l2_blocks: int = 0, init: str = "keras", architecture: str = "paper",
                    branch_width: int = 4000,
                    branch_activations: Sequence[str] = DEFAULT_BRANCH_ACTIVATIONS,
                    batch_norm: str = "top", branch_dropout: float | None = None,
                    heads: Sequence[str] | None = None,
                    ) -> dict[str, Any]:
    """The checkpoint's ``hyper_parameters``: one validated dict from which both classifier
    classes build the same layers, so a checkpoint of one loads into the other.

    ``lr`` does not shape the network; it is kept so that a checkpoint's hyper-parameters are
    accepted as they are by either class.
    """
    if l2_blocks and n_inputs % l2_blocks:
        raise ValueError(f"n_inputs={n_inputs} is not divisible into {l2_blocks} blocks")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r} (expected {ARCHITECTURES})")
    hparams: dict[str, Any] = {
        "n_inputs": n_inputs, "labels": list(labels), "hidden": hidden, "dropout": dropout,
        "input_dropout": input_dropout, "lr": lr, "l2_blocks": l2_blocks, "init": init,
        "architecture": architecture,
    }
    if heads is not None:
        # A multi-task network: its outputs are the heads' labels, named ``<head>:<label>``,
        # head after head (see ``head_columns``). Single-task checkpoints carry no ``heads``.
        hparams["heads"] = list(heads)
        for label in labels:
            if label.split(":", 1)[0] not in hparams["heads"]:
                raise ValueError(f"output {label!r} belongs to none of the heads {list(heads)}")
    if architecture == "wide":
        # Only the wide network's checkpoints carry its options: a paper checkpoint does not
        # pretend to have branches. Checkpoints from before this option load as "paper".
        check_wide_params(hidden, branch_width, branch_activations, batch_norm)
        hparams |= {"branch_width": branch_width, "branch_activations": list(branch_activations),
                    "batch_norm": batch_norm, "branch_dropout": branch_dropout}
    return hparams


def head_label(head: str, label: str) -> str:
    """The output name of ``label`` in head ``head`` of a multi-task network."""
    return f"{head}:{label}"


def head_columns(labels: Sequence[str], head: str) -> tuple[np.ndarray, list[str]]:
    """Output columns of one head and its labels without the prefix (source names hold no
    ``:``, so the first one separates head and label whatever the label contains)."""
    prefix = f"{head}:"
    columns = [j for j, label in enumerate(labels) if label.startswith(prefix)]
    if not columns:
        raise ValueError(f"the network has no head {head!r}")
    return np.asarray(columns, dtype=np.int64), [labels[j][len(prefix):] for j in columns]


def build_from_hparams(hparams: dict[str, Any]) -> nn.Sequential:
    """The layers ``network_hparams`` describes (a paper or a wide network)."""
    n_inputs, n_outputs = hparams["n_inputs"], len(hparams["labels"])
    common = (hparams["hidden"], hparams["dropout"], hparams["input_dropout"])
    if hparams["architecture"] == "wide":
        return build_wide_network(n_inputs, n_outputs, *common, hparams["branch_width"],
                                  hparams["branch_activations"], hparams["batch_norm"],
                                  hparams["branch_dropout"], hparams["init"])
    return build_network(n_inputs, n_outputs, *common, hparams["init"])


class GenreNetMixin:
    """The inference half of a genre classifier, shared by ``GenreNet`` and ``GenreClassifier``.

    Written once so that the plain network and the LightningModule cannot drift apart: same
    attributes, same state_dict keys (``net.*``, ``feature_mean``, ``feature_scale``), same
    operations, hence bitwise-identical outputs from the same checkpoint. Mixed into an
    ``nn.Module`` subclass, which calls ``_install`` after ``nn.Module.__init__``.
    """

    hparams: Any  # a dict here, Lightning's AttributeDict in GenreClassifier
    labels: list[str]
    net: nn.Sequential
    feature_mean: torch.Tensor
    feature_scale: torch.Tensor

    def _install(self, hparams: dict[str, Any]) -> None:
        """Layers first, then buffers: the seeded weight draws stay those of earlier versions."""
        self.labels = list(hparams["labels"])
        self.net = build_from_hparams(hparams)
        n_inputs = hparams["n_inputs"]
        module: Any = self  # nn.Module's register_buffer, which the mixin itself lacks
        module.register_buffer("feature_mean", torch.zeros(n_inputs, dtype=torch.float32))
        module.register_buffer("feature_scale", torch.ones(n_inputs, dtype=torch.float32))

    # --- input preparation -------------------------------------------------------------------
    def set_scaler(self, mean: np.ndarray, scale: np.ndarray) -> None:
        """Install a standardisation fitted elsewhere (on the fit part only)."""
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_scale.copy_(torch.as_tensor(scale, dtype=torch.float32))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        l2_blocks = self.hparams["l2_blocks"]
        if l2_blocks:
            blocks = x.reshape(x.shape[0], l2_blocks, -1)
            x = nn.functional.normalize(blocks, p=2.0, dim=2).reshape(x.shape[0], -1)
        return (x - self.feature_mean) / self.feature_scale

    # --- inference ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (apply ``sigmoid`` for scores)."""
        return self.net(self.prepare(x))

    @property
    def embedding_width(self) -> int:
        """Width of ``embed``'s output: the last hidden layer (256 for the paper's network)."""
        return int(self.hparams["hidden"])

    @property
    def uses_batch_norm(self) -> bool:
        """Training batches of one row would make BatchNorm fail, so the sampler must know."""
        return any(isinstance(m, nn.BatchNorm1d) for m in self.net.modules())

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer's activations (the paper's 256-d ReLU output; the wide top layer)."""
        if self.hparams["hidden"] <= 0:
            raise ValueError("this model has no hidden layer to embed with")
        # Every network ends in [..., Dropout, Linear(N)]: the embedding is what feeds them.
        return self.net[:-2](self.prepare(x))


class GenreNet(GenreNetMixin, nn.Module):
    """The classifier as a plain ``nn.Module``: what ``predict`` and ``embed`` load.

    Importing Lightning costs seconds per job; a forward pass needs none of it. ``options`` are
    ``network_hparams``' keyword arguments (a checkpoint's hyper-parameters fit as they are).
    """

    def __init__(self, n_inputs: int, labels: Sequence[str], **options: Any) -> None:
        super().__init__()
        self.hparams = network_hparams(n_inputs, labels, **options)
        self._install(self.hparams)


class ArrayRows(Dataset):
    """Rows of in-memory tensors, fetched a whole batch of indices at a time.

    Labels are stored as ``uint8`` (a quarter of float32's memory) and converted per batch.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{x.shape[0]} feature rows but {y.shape[0]} label rows")
        self.x = x
        self.y = y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x.index_select(0, index), self.y.index_select(0, index).float()


class IndexBatches(Sampler[torch.Tensor]):
    """Index batches over ``rows``: a fresh seeded permutation per pass, or file order.

    The generator is created once, so epoch k's permutation depends only on the seed and k.
    A last batch smaller than ``min_batch`` is merged into the one before it rather than dropped
    (BatchNorm cannot train on one row, and no row may silently miss an epoch).
    """

    def __init__(self, rows: torch.Tensor, batch_size: int, shuffle: bool,
                 seed: int = 0, min_batch: int = 1) -> None:
        self.rows = rows.to(torch.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.min_batch = min_batch
        self.generator = torch.Generator().manual_seed(seed)

    def _merge_last(self) -> bool:
        remainder = len(self.rows) % self.batch_size
        return 0 < remainder < self.min_batch and len(self.rows) > self.batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size) - int(self._merge_last())

    def __iter__(self) -> Iterator[torch.Tensor]:
        rows = self.rows
        if self.shuffle:
            rows = rows[torch.randperm(len(rows), generator=self.generator)]
        batches = list(torch.split(rows, self.batch_size))
        if self._merge_last():
            batches[-2:] = [torch.cat(batches[-2:])]
        yield from batches


def fit_scaler(x: np.ndarray, rows: np.ndarray, chunk_rows: int = 2048,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation of ``x[rows]`` in float64, without copying ``x``.

    Chunks are merged with Chan et al.'s pairwise update, which avoids the cancellation of
    sum-of-squares formulas on features with a large mean. Constant columns (max == min, an
    exact test) and zero-variance columns get scale 1, as sklearn's StandardScaler does.
    """
    if len(rows) == 0:
        raise ValueError("cannot fit a standardisation on zero rows")
    rows = np.sort(np.asarray(rows))
    n_total = 0
    mean = np.zeros(x.shape[1], dtype=np.float64)
    m2 = np.zeros(x.shape[1], dtype=np.float64)
    lo = np.full(x.shape[1], np.inf, dtype=np.float32)
    hi = np.full(x.shape[1], -np.inf, dtype=np.float32)
    for start in range(0, len(rows), chunk_rows):
        chunk = x[rows[start:start + chunk_rows]]
        lo = np.minimum(lo, chunk.min(axis=0))
        hi = np.maximum(hi, chunk.max(axis=0))
        chunk64 = chunk.astype(np.float64)
        n_chunk = chunk64.shape[0]
        chunk_mean = chunk64.mean(axis=0)
        chunk_m2 = ((chunk64 - chunk_mean) ** 2).sum(axis=0)
        n_new = n_total + n_chunk
        delta = chunk_mean - mean
        mean = mean + delta * (n_chunk / n_new)
        m2 = m2 + chunk_m2 + delta**2 * (n_total * n_chunk / n_new)
        n_total = n_new
    std = np.sqrt(m2 / n_total)
    scale = np.where((hi == lo) | (std == 0.0), 1.0, std)
    return mean, scale
