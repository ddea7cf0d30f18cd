"""The Lightning-free inference path: ``load_network`` reproduces the LightningModule bit for bit,
and the prediction and embedding CLIs never import Lightning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import abgd
from abgd.inference import load_network, score_rows
from abgd.lit_module import GenreClassifier
from abgd.nets import GenreNet
from abgd.training import TrainConfig, save_checkpoint, train

LABELS = ["a", "b", "c"]

# (model parameters, expected state_dict keys besides the two scaler buffers)
PAPER_KEYS = {"net.1.weight", "net.1.bias", "net.4.weight", "net.4.bias"}
WIDE_TOP_BN = {
    *(f"net.1.blocks.{i}.0.{p}" for i in range(2) for p in ("weight", "bias")),
    "net.3.weight", "net.3.bias",
    *(f"net.4.{p}" for p in ("weight", "bias", "running_mean", "running_var",
                             "num_batches_tracked")),
    "net.7.weight", "net.7.bias",
}
WIDE = {"architecture": "wide", "branch_width": 6, "hidden": 5,
        "branch_activations": ["relu", "tanh"]}
CASES = {
    "paper": ({"hidden": 4}, PAPER_KEYS),
    "paper-l2": ({"hidden": 4, "l2_blocks": 2}, PAPER_KEYS),
    "fusion": ({"hidden": 0, "l2_blocks": 4}, {"net.1.weight", "net.1.bias"}),
    "wide": (WIDE, WIDE_TOP_BN),
    "wide-l2": ({**WIDE, "l2_blocks": 2}, WIDE_TOP_BN),
}


def planted(n: int = 160, width: int = 8, seed: int = 0):
    """Labels thresholded from the first columns, so training moves the weights away from init."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, width)).astype(np.float32) * 3.0 + 1.0
    y = (x[:, :3] > 1.5).astype(np.uint8)
    return x, y, np.arange(0, n - 40), np.arange(n - 40, n)


@pytest.mark.parametrize("case", sorted(CASES))
def test_load_network_matches_the_trained_lightning_module(case, tmp_path):
    params, net_keys = CASES[case]
    x, y, fit, holdout = planted()
    config = TrainConfig(max_epochs=2, threads=1, accelerator="cpu", batch_size=16)
    module = train(x, y, fit, holdout, LABELS, params, config).module
    save_checkpoint(module, tmp_path / "model.ckpt")

    network = load_network(tmp_path)
    assert type(network) is GenreNet and not network.training
    assert set(network.state_dict()) == set(module.state_dict())
    assert set(network.state_dict()) == {"feature_mean", "feature_scale", *net_keys}
    for key, value in module.state_dict().items():
        loaded = network.state_dict()[key]
        assert loaded.device.type == "cpu" and torch.equal(loaded, value), key
    assert network.hparams == dict(module.hparams) and network.labels == LABELS

    scores = score_rows(network, x, batch_size=50)  # batches of 50, 50, 50, 10 rows
    reference = score_rows(module, x, batch_size=50)  # same shapes, hence the same kernels
    assert torch.equal(torch.from_numpy(scores), torch.from_numpy(reference))
    assert scores.shape == (len(x), 3) and scores.min() > 0.0 and scores.max() < 1.0
    with torch.inference_mode():
        logits = network(torch.from_numpy(x))
        assert torch.equal(logits, module(torch.from_numpy(x)))
    # Independent reference: the sigmoid of one forward over all rows (other batch shapes may
    # round differently, hence a tolerance here only).
    np.testing.assert_allclose(scores, torch.sigmoid(logits).numpy(), rtol=1e-5, atol=1e-6)
    if params["hidden"]:
        embedding = score_rows(network, x, batch_size=50, output="embed")
        assert embedding.shape == (len(x), params["hidden"]) and (embedding >= 0).all()
        reference = score_rows(module, x, batch_size=50, output="embed")
        assert torch.equal(torch.from_numpy(embedding), torch.from_numpy(reference))


def test_both_classes_draw_the_same_initial_weights():
    """Same seed, same layers in the same order: training seeds keep their meaning."""
    for params in ({"hidden": 4}, WIDE):
        torch.manual_seed(7)
        plain = GenreNet(8, LABELS, **params).state_dict()
        torch.manual_seed(7)
        lit = GenreClassifier(8, LABELS, **params).state_dict()
        assert list(plain) == list(lit)
        assert all(torch.equal(plain[k], lit[k]) for k in plain)
        assert plain["net.1.weight" if "architecture" not in params
                     else "net.1.blocks.0.0.weight"].abs().max() <= 0.05


def test_checkpoint_without_architecture_loads_as_paper(tmp_path):
    torch.manual_seed(0)
    module = GenreClassifier(8, LABELS, hidden=4).eval()
    module.set_scaler(np.arange(8.0), np.full(8, 2.0))
    save_checkpoint(module, tmp_path / "model.ckpt")
    checkpoint = torch.load(tmp_path / "model.ckpt", weights_only=True)
    del checkpoint["hyper_parameters"]["architecture"]  # as written before the option existed
    torch.save(checkpoint, tmp_path / "model.ckpt")
    network = load_network(tmp_path)
    assert network.hparams["architecture"] == "paper"
    x = np.random.default_rng(1).standard_normal((20, 8)).astype(np.float32)
    assert np.array_equal(score_rows(network, x), score_rows(module, x))


def write(tmp_path: Path, checkpoint: object) -> Path:
    torch.save(checkpoint, tmp_path / "model.ckpt")
    return tmp_path / "model.ckpt"


MISFIT = r"(?s)model\.ckpt: checkpoint does not fit its hyper-parameters.*"


def test_missing_and_malformed_checkpoints_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model\.ckpt: no checkpoint \(run train_single"):
        load_network(tmp_path)
    (tmp_path / "model.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"model\.ckpt: not a readable checkpoint"):
        load_network(tmp_path)
    write(tmp_path, [1, 2])
    with pytest.raises(ValueError, match=r"model\.ckpt: a checkpoint holds a dict, found list"):
        load_network(tmp_path)
    write(tmp_path, {"state_dict": {}})
    with pytest.raises(ValueError, match=r"model\.ckpt: not a model checkpoint \(no hyper_param"):
        load_network(tmp_path)

    module = GenreClassifier(8, LABELS, hidden=4)
    state = {k: v.detach() for k, v in module.state_dict().items()}
    hparams = dict(module.hparams)
    incomplete = {k: v for k, v in state.items() if k != "feature_scale"}
    write(tmp_path, {"state_dict": incomplete, "hyper_parameters": hparams})
    with pytest.raises(ValueError, match=MISFIT + r"feature_scale"):
        load_network(tmp_path)
    write(tmp_path, {"state_dict": state, "hyper_parameters": {**hparams, "hidden": 5}})
    with pytest.raises(ValueError, match=MISFIT + r"size mismatch"):
        load_network(tmp_path)
    write(tmp_path, {"state_dict": state, "hyper_parameters": {**hparams, "colour": "red"}})
    with pytest.raises(ValueError, match=MISFIT + r"colour"):
        load_network(tmp_path)


LIGHTNING_PACKAGES = ("lightning", "pytorch_lightning", "lightning_fabric")

PROBE = """
import sys
def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in {packages!r})
import abgd.embed, abgd.inference, abgd.nets, abgd.predict
print(loaded())
import abgd.lit_module  # control: the probe does see Lightning when it is imported
print(bool(loaded()))
"""


def test_predict_and_embed_do_not_import_lightning():
    source = str(Path(abgd.__file__).resolve().parents[1])  # the code under test, not a copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (source, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-c", PROBE.format(packages=LIGHTNING_PACKAGES)],
                          capture_output=True, text=True, env=env, timeout=300, check=True)
    assert done.stdout.split() == ["[]", "True"], done.stderr


TORCH_PROBE = """
import sys
import abgd.inputs, abgd.train_lgbm
print(sorted({m.split(".")[0] for m in sys.modules} & {"torch", "lightning"}))
import abgd.inference  # control: the probe does see torch when it is imported
print("torch" in sys.modules)
"""


def test_lightgbm_jobs_import_neither_torch_nor_lightning():
    # One LightGBM job per label chunk: each would pay seconds of imports it never uses.
    source = str(Path(abgd.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (source, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-c", TORCH_PROBE], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    assert done.stdout.split() == ["[]", "True"], done.stderr
