"""Tests of the network builder, the in-memory batching and the float64 scaler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from abgd.lit_module import GenreClassifier
from abgd.nets import IndexBatches, build_network, fit_scaler

LABELS = [f"label{i}" for i in range(7)]


def test_single_source_layers_follow_the_paper():
    net = build_network(2669, 7, hidden=256, dropout=0.5, input_dropout=0.25)
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert (net[1].in_features, net[1].out_features) == (2669, 256)
    assert (net[4].in_features, net[4].out_features) == (256, 7)
    assert net[0].p == 0.25 and net[3].p == 0.5


def test_keras_uniform_init_and_zero_biases():
    torch.manual_seed(0)
    net = build_network(300, 20, hidden=64, dropout=0.5, input_dropout=0.5)
    for layer in (net[1], net[4]):
        assert layer.weight.abs().max() <= 0.05
        assert layer.weight.abs().max() > 0.045  # spread over the whole interval
        assert torch.count_nonzero(layer.bias) == 0
    with pytest.raises(ValueError, match="init"):
        build_network(3, 2, 4, 0.5, 0.5, init="glorot")


def test_fusion_width_is_blocks_times_hidden():
    module = GenreClassifier(4 * 256, LABELS, hidden=0, l2_blocks=4)
    kinds = [type(layer).__name__ for layer in module.net]
    assert kinds == ["Dropout", "Linear"]
    assert module.net[1].in_features == 1024
    with pytest.raises(ValueError, match="blocks"):
        GenreClassifier(1023, LABELS, hidden=0, l2_blocks=4)
    with pytest.raises(ValueError, match="hidden layer"):
        module.embed(torch.zeros(2, 1024))


def test_l2_blocks_are_unit_norm_before_the_read_out():
    module = GenreClassifier(12, LABELS, hidden=0, l2_blocks=3)
    x = torch.tensor([[3.0, 4.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0]])
    prepared = module.prepare(x)
    expected = torch.tensor([[0.6, 0.8, 0, 0, 1, 0, 0, 0, 0.5, 0.5, 0.5, 0.5]])
    torch.testing.assert_close(prepared, expected)


def test_embedding_is_the_relu_output_in_eval_mode():
    torch.manual_seed(1)
    module = GenreClassifier(5, LABELS, hidden=6).eval()
    module.set_scaler(np.arange(5.0), np.full(5, 2.0))
    x = torch.randn(4, 5)
    lin = module.net[1]
    expected = torch.relu(((x - torch.arange(5.0)) / 2.0) @ lin.weight.T + lin.bias)
    torch.testing.assert_close(module.embed(x), expected)
    assert module.embed(x).shape == (4, 6)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 200), batch=st.integers(1, 64), seed=st.integers(0, 2**31))
def test_index_batches_partition_the_rows_each_epoch(n, batch, seed):
    rows = torch.arange(0, 3 * n, 3)
    sampler = IndexBatches(rows, batch, shuffle=True, seed=seed)
    epochs = [list(sampler) for _ in range(2)]
    for batches in epochs:
        assert len(batches) == len(sampler) == -(-n // batch)
        assert all(len(b) <= batch for b in batches)
        assert sorted(torch.cat(batches).tolist()) == rows.tolist()
    # Same seed, same sequence of epochs.
    replay = IndexBatches(rows, batch, shuffle=True, seed=seed)
    assert all(torch.equal(torch.cat(a), torch.cat(list(replay)))
               for a in epochs[:1])
    if n > 5:
        assert not torch.equal(torch.cat(epochs[0]), torch.cat(epochs[1]))


def test_unshuffled_batches_keep_order():
    batches = list(IndexBatches(torch.tensor([5, 2, 9]), 2, shuffle=False))
    assert [b.tolist() for b in batches] == [[5, 2], [9]]


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(2, 40), st.integers(1, 5)),
                    elements=st.floats(-1e4, 1e4, width=32)),
       offset=st.sampled_from([0.0, 1e6]), chunk=st.integers(1, 7), data=st.data())
def test_fit_scaler_matches_numpy_float64(x, offset, chunk, data):
    x = (x + np.float32(offset)).astype(np.float32)
    rows = np.array(data.draw(st.lists(st.integers(0, len(x) - 1), min_size=1, unique=True)))
    mean, scale = fit_scaler(x, rows, chunk_rows=chunk)
    sub = x[np.sort(rows)].astype(np.float64)
    np.testing.assert_allclose(mean, sub.mean(axis=0), rtol=1e-12, atol=1e-9)
    std = sub.std(axis=0)
    constant = sub.max(axis=0) == sub.min(axis=0)
    np.testing.assert_array_equal(scale[constant], 1.0)
    np.testing.assert_allclose(scale[~constant], std[~constant], rtol=1e-9, atol=1e-9)


def test_fit_scaler_rejects_no_rows():
    with pytest.raises(ValueError, match="zero rows"):
        fit_scaler(np.zeros((3, 2), np.float32), np.array([], dtype=int))


# --- the wide (JKU 2017) architecture ------------------------------------------------------------

def test_paper_network_parameter_shapes_are_unchanged():
    module = GenreClassifier(2669, LABELS)
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert shapes == {"feature_mean": (2669,), "feature_scale": (2669,),
                      "net.1.weight": (256, 2669), "net.1.bias": (256,),
                      "net.4.weight": (7, 256), "net.4.bias": (7,)}
    assert module.hparams["architecture"] == "paper"
    assert "branch_width" not in module.hparams
    assert module.embedding_width == 256 and not module.uses_batch_norm


def wide(n_inputs: int = 10, **kw) -> GenreClassifier:
    params = {"hidden": 32, "architecture": "wide", "branch_width": 16, **kw}
    return GenreClassifier(n_inputs, LABELS, **params)


def test_wide_layers_and_parameter_count():
    torch.manual_seed(0)
    module = wide()
    branches = module.net[1].blocks
    assert [[type(m).__name__ for m in b] for b in branches] == [
        ["Linear", "ReLU"], ["Linear", "Tanh"], ["Linear", "Sigmoid"]]
    assert all((b[0].in_features, b[0].out_features) == (10, 16) for b in branches)
    kinds = [type(m).__name__ for m in module.net]
    assert kinds == ["Dropout", "Concat", "Dropout", "Linear", "BatchNorm1d", "ReLU", "Dropout",
                     "Linear"]
    # 3 × (10·16 + 16) + (48·32 + 32) + 2·32 (BatchNorm γ, β) + (32·7 + 7), by hand.
    assert sum(p.numel() for p in module.parameters()) == 528 + 1568 + 64 + 231
    assert module.embedding_width == 32 and module.uses_batch_norm
    for layer in module.net.modules():
        if isinstance(layer, torch.nn.Linear):
            assert layer.weight.abs().max() <= 0.05
            assert torch.count_nonzero(layer.bias) == 0


def test_wide_batch_norm_choices_and_branch_dropout():
    def count_bn(module):
        return sum(isinstance(m, torch.nn.BatchNorm1d) for m in module.net.modules())

    assert count_bn(wide(batch_norm="none")) == 0
    assert count_bn(wide(batch_norm="top")) == 1
    assert count_bn(wide(batch_norm="all")) == 4
    two = wide(branch_activations=["elu", "elu"], dropout=0.6, branch_dropout=0.5,
               input_dropout=0.0)
    assert len(two.net[1].blocks) == 2 and two.net[3].in_features == 32
    assert (two.net[0].p, two.net[2].p, two.net[-2].p) == (0.0, 0.5, 0.6)


@pytest.mark.parametrize("bad, match", [
    ({"branch_activations": ["relu", "swish"]}, "activations"),
    ({"branch_activations": []}, "at least one branch"),
    ({"hidden": 0}, "top layer"),
    ({"batch_norm": "some"}, "batch_norm"),
    ({"architecture": "deep"}, "architecture"),
])
def test_wide_bad_parameters_are_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        wide(**bad)


def test_wide_embedding_is_the_top_relu_in_eval_mode():
    torch.manual_seed(2)
    module = wide(5)
    module.set_scaler(np.arange(5.0), np.full(5, 2.0))
    bn = module.net[4]
    bn.running_mean.copy_(torch.linspace(-0.1, 0.1, 32))
    bn.running_var.copy_(torch.linspace(0.5, 2.0, 32))
    bn.weight.data.copy_(torch.linspace(0.5, 1.5, 32))
    bn.bias.data.copy_(torch.linspace(-0.2, 0.2, 32))
    module.eval()
    x = torch.randn(6, 5)
    z = (x - torch.arange(5.0)) / 2.0
    a, b, c = (blk[0] for blk in module.net[1].blocks)
    h = torch.cat([torch.relu(z @ a.weight.T + a.bias), torch.tanh(z @ b.weight.T + b.bias),
                   torch.sigmoid(z @ c.weight.T + c.bias)], dim=1)
    top = module.net[3]
    t = h @ top.weight.T + top.bias
    t = (t - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    expected = torch.relu(t)
    with torch.no_grad():
        torch.testing.assert_close(module.embed(x), expected)
        out = module.net[-1]
        torch.testing.assert_close(module(x), expected @ out.weight.T + out.bias)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 120), batch=st.integers(1, 40), seed=st.integers(0, 2**31))
def test_min_batch_merges_a_singleton_tail_and_loses_no_row(n, batch, seed):
    rows = torch.arange(n)
    merged = list(IndexBatches(rows, batch, shuffle=True, seed=seed, min_batch=2))
    plain = list(IndexBatches(rows, batch, shuffle=True, seed=seed))
    assert sorted(torch.cat(merged).tolist()) == list(range(n))
    assert torch.equal(torch.cat(merged), torch.cat(plain))  # same order, only regrouped
    assert len(merged) == len(IndexBatches(rows, batch, True, seed, min_batch=2))
    if batch >= 2:  # a batch size of 1 cannot satisfy the minimum, and is left alone
        assert all(len(b) >= 2 for b in merged)
    singleton_tail = n % batch == 1 and n > batch
    assert len(merged) == len(plain) - int(singleton_tail)
