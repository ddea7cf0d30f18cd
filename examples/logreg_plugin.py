"""Example plug-in system: one scikit-learn logistic regression per label on standardised inputs.

Enable it with (config)::

    custom_systems:
      - name: logreg
        module: examples/logreg_plugin.py
        inputs: features
        params: {C: 0.1, max_labels: 50, max_iter: 200}

``max_labels`` caps the cost: only the most frequent labels of the fit part get a regression;
every other label scores its fit-part frequency (a popularity prior), so the score matrix still
covers every label the evaluation expects. The contract is in docs/plugins.md.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def train(x_fit: np.ndarray, y_fit: np.ndarray, x_holdout: np.ndarray, y_holdout: np.ndarray,
          labels: list[str], params: dict[str, Any], seed: int, model_dir: Path) -> dict:
    scaler = StandardScaler().fit(x_fit)
    z = scaler.transform(x_fit).astype(np.float32)
    prior = y_fit.mean(axis=0)
    order = np.argsort(-y_fit.sum(axis=0), kind="stable")
    cap = int(params.get("max_labels", len(labels)))
    models = {}
    for j in order[:cap]:
        target = y_fit[:, j]
        if target.min() == target.max():  # one class only: the prior says it all
            continue
        model = LogisticRegression(C=float(params.get("C", 1.0)),
                                   max_iter=int(params.get("max_iter", 200)), random_state=seed)
        models[int(j)] = model.fit(z, target)
    with open(model_dir / "model.pkl", "wb") as handle:
        pickle.dump({"scaler": scaler, "prior": prior, "models": models}, handle)
    return {"regressions": len(models), "prior_only_labels": len(labels) - len(models)}


def predict(x: np.ndarray, labels: list[str], params: dict[str, Any], model_dir: Path,
            ) -> np.ndarray:
    with open(model_dir / "model.pkl", "rb") as handle:
        state = pickle.load(handle)
    scores = np.tile(state["prior"].astype(np.float32), (x.shape[0], 1))
    if state["models"]:
        z = state["scaler"].transform(x).astype(np.float32)
        for j, model in state["models"].items():
            scores[:, j] = model.predict_proba(z)[:, 1]
    return scores
