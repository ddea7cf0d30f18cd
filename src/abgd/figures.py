"""The study's result figures: training curves, macro ROC curves, per-label F, thresholds.

Each figure puts the four sources side by side so single-source and fusion read at a glance;
they are drawn from the files the workflow already wrote (epoch logs, scores, thresholds), so a
figure never needs a model to be loaded.
"""

from __future__ import annotations

import argparse
import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abgd.io import atomic_path, read_json
from abgd.labels import label_matrix_lenient
from abgd.progress import parse_step_args, step_parser

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

# matplotlib, pandas and scikit-learn (2.2 s together) load where a figure is drawn, so that
# ``--help`` and argument errors answer at once.


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt

FPR_GRID = np.linspace(0.0, 1.0, 201)


UNION = "union"  # models/<system>/union/: one model for every source

def _save(fig: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)


def _grid(n: int) -> tuple[plt.Figure, np.ndarray]:
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = _pyplot().subplots(rows, cols, figsize=(4 * cols, 3.3 * rows), squeeze=False)
    return fig, axes.ravel()


def aligned(scores_path: Path, groundtruth_path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Scores and a truth matrix over the model's labels, rows matched by MBID."""
    import pandas as pd

    scores = pd.read_parquet(scores_path)
    truth = pd.read_parquet(groundtruth_path).set_index("mbid").loc[scores["mbid"]].reset_index()
    labels = [column for column in scores.columns if column != "mbid"]
    # labels outside the model: not plotted
    matrix, _ = label_matrix_lenient(truth["labels"], labels)
    return labels, scores[labels].to_numpy(dtype=np.float64), matrix.toarray().astype(bool)


def macro_roc(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean TPR over labels on a common FPR grid (labels with both classes only)."""
    curves = []
    for column in range(truth.shape[1]):
        positives = truth[:, column]
        if positives.all() or not positives.any():
            continue
        from sklearn.metrics import roc_curve

        fpr, tpr, _ = roc_curve(positives, scores[:, column])
        curves.append(np.interp(FPR_GRID, fpr, tpr))
    if not curves:
        return np.full_like(FPR_GRID, np.nan), float("nan")
    mean = np.mean(curves, axis=0)
    return mean, float(np.trapezoid(mean, FPR_GRID))


def per_label_f(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    tp = (truth & predicted).sum(axis=0).astype(float)
    precision = np.divide(tp, predicted.sum(axis=0), out=np.zeros_like(tp),
                          where=predicted.sum(axis=0) > 0)
    recall = np.divide(tp, truth.sum(axis=0), out=np.zeros_like(tp), where=truth.sum(axis=0) > 0)
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)


def plot_training_curves(epochs: dict[tuple[str, str], Path], sources: list[str],
                         systems: list[str], out: Path) -> None:
    fig, axes = _grid(len(sources))
    for ax, source in zip(axes, sources, strict=False):
        for system, style in zip(systems, itertools.cycle(("-", "--", ":", "-.")),
                                 strict=False):
            # A model of all sources (the multi-task network) has one curve, drawn in each panel.
            path = epochs.get((system, source), epochs.get((system, UNION)))
            if path is None:
                continue
            import pandas as pd

            log = pd.read_csv(path)
            ax.plot(log["epoch"], log["train_loss"], style, color="tab:blue",
                    label=f"{system} train")
            ax.plot(log["epoch"], log["holdout_loss"], style, color="tab:orange",
                    label=f"{system} holdout")
            best = log["holdout_loss"].idxmin()
            ax.plot(log["epoch"][best], log["holdout_loss"][best], "o", color="tab:red")
        ax.set_title(source)
        ax.set_xlabel("epoch")
        ax.set_ylabel("BCE loss")
    axes[0].legend(fontsize=7)
    fig.suptitle("Training curves (dot: kept epoch)", y=1.03)
    _save(fig, out)


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="abgd.figures", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", nargs="+", type=Path, required=True,
                        help="models/<system>/<source>/epochs.csv files")
    parser.add_argument("--scores", nargs="+", type=Path, required=True,
                        help="scores/<system>/<source>-<split>.parquet files")
    parser.add_argument("--groundtruth", nargs="+", type=Path, required=True,
                        help="groundtruth/<source>-<split>.parquet of the scored split")
    parser.add_argument("--thresholds", nargs="+", type=Path, required=True,
                        help="thresholds/<system>/<source>.json files")
    parser.add_argument("--sources", nargs="+", required=True)
    parser.add_argument("--systems", nargs="+", required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    log = logging.getLogger("abgd.figures")

    def key(path: Path) -> tuple[str, str]:
        # .../<system>/<source>[-<split>].<ext>: the folder names the system.
        return path.parent.name, path.stem.split("-")[0]

    epochs = {(path.parent.parent.name, path.parent.name): path for path in args.epochs}
    scores = {key(path): path for path in args.scores}
    thresholds = {key(path): path for path in args.thresholds}
    truth_files = {path.stem.split("-")[0]: path for path in args.groundtruth}
    args.out_dir.mkdir(parents=True, exist_ok=True)

    plot_training_curves(epochs, args.sources, args.systems, args.out_dir / "training_curves.png")

    roc_fig, roc_axes = _grid(len(args.sources))
    f_fig, f_axes = _grid(len(args.sources))
    for roc_ax, f_ax, source in zip(roc_axes, f_axes, args.sources, strict=False):
        for system, marker in zip(args.systems, itertools.cycle(("o", "s", "^", "v", "D", "P")),
                                  strict=False):
            if (system, source) not in scores:
                continue
            labels, score, truth = aligned(scores[(system, source)], truth_files[source])
            curve, area = macro_roc(truth, score)
            roc_ax.plot(FPR_GRID, curve, label=f"{system} (AUC {area:.3f})")
            per_label = read_json(thresholds[(system, source)])["per_label"]
            cut = np.array([per_label[label] for label in labels], dtype=np.float64)
            f = per_label_f(truth, score >= cut)
            f_ax.scatter(truth.sum(axis=0), f, s=12, marker=marker, alpha=0.7, label=system)
        roc_ax.plot([0, 1], [0, 1], color="grey", lw=0.5)
        roc_ax.set(title=source, xlabel="false positive rate", ylabel="true positive rate")
        roc_ax.legend(fontsize=7, loc="lower right")
        f_ax.set_xscale("log")
        f_ax.set(title=source, xlabel="recordings with the label", ylabel="F (per label)")
        f_ax.legend(fontsize=7)
    roc_fig.suptitle("Macro-averaged ROC curves, validation split", y=1.03)
    f_fig.suptitle("Per-label F against label frequency, validation split", y=1.03)
    _save(roc_fig, args.out_dir / "roc_curves.png")
    _save(f_fig, args.out_dir / "label_f_vs_frequency.png")

    fig, axes = _grid(len(args.sources))
    for ax, source in zip(axes, args.sources, strict=False):
        for system in args.systems:
            if (system, source) in thresholds:
                values = np.array(list(read_json(thresholds[(system, source)])["per_label"]
                                       .values()), dtype=np.float64)
                ax.hist(values[np.isfinite(values)], bins=20, range=(0, 1), alpha=0.6,
                        label=system)
        ax.set(title=source, xlabel="threshold", ylabel="labels")
        ax.legend(fontsize=7)
    fig.suptitle("Per-label thresholds fitted on the holdout", y=1.03)
    _save(fig, args.out_dir / "threshold_distribution.png")
    log.info("wrote 4 figures to %s", args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
