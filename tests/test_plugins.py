"""Plug-in systems: loading, the failure modes named in their messages, the example plug-in."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from abgd import custom, plugins

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "logreg_plugin.py"
LABELS = ["a", "b", "c"]


def write_plugin(tmp_path: Path, predict_body: str, name: str = "plug.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(f"""
        import numpy as np

        def train(x_fit, y_fit, x_holdout, y_holdout, labels, params, seed, model_dir):
            (model_dir / "w.txt").write_text("ok")
            return {{"trained": True}}

        def predict(x, labels, params, model_dir):
            {predict_body}
    """))
    return path


def data(rows: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5)).astype(np.float32)
    y = (rng.random((rows, len(LABELS))) < 0.4).astype(np.uint8)
    y[0], y[1] = 1, 0  # every label has both classes in the fit rows
    return x, y


def test_import_failure_names_the_plugin_and_the_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    with pytest.raises(plugins.PluginError, match=r"'mine'.*cannot import.*not_a_module_anywhere"):
        plugins.load("mine", str(broken))
    with pytest.raises(plugins.PluginError, match=r"'mine'.*cannot import 'no.such.module'"):
        plugins.load("mine", "no.such.module")
    with pytest.raises(plugins.PluginError, match=r"'mine'.*no such file"):
        plugins.load("mine", str(tmp_path / "absent.py"))


def test_missing_function_is_named(tmp_path: Path) -> None:
    half = tmp_path / "half.py"
    half.write_text("def train(**kwargs):\n    return None\n")
    with pytest.raises(plugins.PluginError, match=r"'half'.*no function predict"):
        plugins.load("half", str(half))


@pytest.mark.parametrize(("body", "problem"), [
    ("return np.zeros((len(x), len(labels) + 1))", r"shape \(6, 4\), expected \(6, 3\)"),
    ("return np.zeros(len(x))", r"shape \(6,\), expected \(6, 3\)"),
    ("s = np.zeros((len(x), len(labels))); s[2, 1] = np.nan; return s",
     r"1 NaN or infinite scores, first at row 2, label 'b'"),
    ("return np.full((len(x), len(labels)), 1.5)", r"outside \[0, 1\]"),
    ("return 'nonsense'", r"not a numeric array"),
])
def test_bad_scores_fail_with_the_plugin_and_the_problem(tmp_path: Path, body: str,
                                                         problem: str) -> None:
    path = write_plugin(tmp_path, body)
    x, _ = data(6)
    with pytest.raises(plugins.PluginError, match=rf"custom system 'toy': .*{problem}"):
        custom.predict("toy", str(path), {}, x, LABELS, tmp_path)


def test_train_keeps_the_model_folder_only_on_success(tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "return np.zeros((len(x), len(labels)))")
    x, y = data()
    out = tmp_path / "model-out"
    metrics = custom.train("toy", str(path), {}, x, y, np.arange(15), np.arange(15, 20), LABELS,
                           0, out)
    assert metrics == {"trained": True}
    assert (out / "model" / "w.txt").read_text() == "ok"
    bad = tmp_path / "bad.py"
    bad.write_text("def train(**kw):\n    raise RuntimeError('boom')\n"
                   "def predict(**kw):\n    return None\n")
    with pytest.raises(RuntimeError, match="boom"):
        custom.train("bad", str(bad), {}, x, y, np.arange(15), np.arange(15, 20), LABELS, 0, out)
    assert (out / "model" / "w.txt").read_text() == "ok"  # the earlier model is untouched
    assert [p.name for p in out.iterdir()] == ["model"]  # no staging folder left behind


def test_source_hash_follows_the_file_and_resolve_finds_it(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_plugin(tmp_path, "return np.zeros((len(x), len(labels)))")
    before = plugins.source_hash(str(path))
    path.write_text(path.read_text() + "\n# edited\n")
    assert plugins.source_hash(str(path)) != before
    assert plugins.source_hash(str(tmp_path / "absent.py")) == "missing"
    assert plugins.source_hash("json") != "missing"  # an installed module is found too
    monkeypatch.chdir(tmp_path)
    assert plugins.resolve("examples/logreg_plugin.py", [ROOT]) == str(EXAMPLE)
    assert plugins.resolve("json") == "json"


def test_example_plugin_learns_and_respects_its_label_cap(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    y = np.column_stack([x[:, 0] > 0, x[:, 1] > 0.5, rng.random(300) < 0.1]).astype(np.uint8)
    params = {"max_labels": 2, "C": 1.0}
    metrics = custom.train("logreg", str(EXAMPLE), params, x, y, np.arange(200),
                           np.arange(200, 300), LABELS, 0, tmp_path)
    assert metrics == {"regressions": 2, "prior_only_labels": 1}
    scores = custom.predict("logreg", str(EXAMPLE), params, x[200:], LABELS, tmp_path / "model")
    # The two learnable labels are separated; the capped one scores its fit frequency.
    for j in (0, 1):
        positive, negative = scores[y[200:, j] == 1, j], scores[y[200:, j] == 0, j]
        assert positive.mean() > negative.mean() + 0.3
    assert np.allclose(scores[:, 2], y[:200, 2].mean())
