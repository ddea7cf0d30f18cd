"""A training job killed with SIGKILL mid-run leaves no model; its rerun equals an unbroken run.

SIGKILL cannot be caught, so nothing in the job can clean up: the guarantee must come from the
write order (the model folder is written only after the last epoch, each file atomically,
``metrics.json`` last). The rerun starts from scratch with the same seed and must give the very
same checkpoint tensors, epoch losses and scores as a run that was never interrupted.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from abgd import predict, train_single
from abgd.io import read_json
from conftest import ROOT, leftovers, tiny_study, train_args

EPOCHS = ["--max-epochs", "12", "--patience", "12", "--batch-size", "8", "--seed", "3"]


def start(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "abgd.train_single", *args], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def kill_after_first_epoch(proc: subprocess.Popen[str], log: Path) -> str:
    """Copy the job's log until its first epoch line, then SIGKILL it; return the log."""
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        seen.append(line)
        if "epoch 1:" in line:
            proc.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline, "no epoch line within 60 s"
    proc.wait(timeout=30)
    log.write_text("".join(seen))
    return "".join(seen)


def epoch_losses(model_dir: Path) -> list[tuple[str, str, str]]:
    with open(model_dir / "epochs.csv", newline="") as handle:
        return [(r["epoch"], r["train_loss"], r["holdout_loss"]) for r in csv.DictReader(handle)]


def scores(model_dir: Path, study: dict, out: Path) -> list[dict]:
    assert predict.main(["--model-dir", str(model_dir), "--kind", "single", "--features",
                         str(study["features"]), "--groundtruth", str(study["groundtruth"]),
                         "--out", str(out), "--threads", "1"]) == 0
    return pq.read_table(out).to_pylist()


@pytest.mark.slow
def test_sigkill_mid_training_then_rerun_equals_an_unbroken_run(tmp_path):
    study = tiny_study(tmp_path / "in", n=160, extra_features=4, seed=5)
    killed_dir = tmp_path / "killed"
    proc = start(train_args(study, killed_dir, *EPOCHS))
    log = kill_after_first_epoch(proc, tmp_path / "killed.log")
    assert proc.returncode == -signal.SIGKILL, log
    assert "epoch 1:" in log and "epoch 12:" not in log
    # Nothing that looks like a model: Snakemake sees missing outputs and reruns the job.
    assert not (killed_dir / "model.ckpt").exists()
    assert not (killed_dir / "metrics.json").exists()
    assert leftovers(tmp_path) == []

    rerun = start(train_args(study, killed_dir, *EPOCHS))
    _, rerun_log = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, rerun_log

    unbroken_dir = tmp_path / "unbroken"
    assert train_single.main(train_args(study, unbroken_dir, *EPOCHS)) == 0

    a = torch.load(killed_dir / "model.ckpt", weights_only=True)["state_dict"]
    b = torch.load(unbroken_dir / "model.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert epoch_losses(killed_dir) == epoch_losses(unbroken_dir)
    assert len(epoch_losses(killed_dir)) == 12
    assert read_json(killed_dir / "labels.json") == read_json(unbroken_dir / "labels.json")
    ma, mb = read_json(killed_dir / "metrics.json"), read_json(unbroken_dir / "metrics.json")
    for key in ("best_epoch", "best_holdout_loss", "holdout_macro_roc_auc", "epochs_run"):
        assert ma[key] == mb[key], key
    assert scores(killed_dir, study, tmp_path / "a.parquet") == \
        scores(unbroken_dir, study, tmp_path / "b.parquet")
