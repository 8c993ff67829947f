#!/usr/bin/env python3
"""Reference scores for chexlens's evaluation code, made with scikit-learn.

Writes crates/chexlens-research/tests/fixtures/evaluation.json: cases of
scores (rounded so that ties occur, as they do with f32 probabilities) and
binary truth, with scikit-learn's roc_auc_score, average_precision_score,
roc_curve (drop_intermediate=False) and calibration_curve (10 uniform bins),
and DeLong's AUROC variance computed here from its definition (every
positive against every negative), independently of the midrank form
chexlens uses. CI only reads the JSON.

    python3 tools/reference/evaluation_reference.py

Requires: numpy, scikit-learn.
"""

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

OUT = Path(__file__).resolve().parents[2] / "crates/chexlens-research/tests/fixtures/evaluation.json"


def delong_by_definition(scores, truth):
    """DeLong et al. 1988: structural components from psi over all pairs."""
    x = scores[truth == 1][:, None]
    y = scores[truth == 0][None, :]
    psi = (x > y) + 0.5 * (x == y)
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    m, n = len(v10), len(v01)
    variance = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    return float(psi.mean()), float(np.sqrt(variance))


def case(name, scores, truth):
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    fpr, tpr, thresholds = roc_curve(truth, scores, drop_intermediate=False)
    prob_true, prob_pred = calibration_curve(truth, scores, n_bins=10, strategy="uniform")
    auc, std_error = delong_by_definition(scores, truth)
    assert abs(auc - roc_auc_score(truth, scores)) < 1e-12
    return {
        "name": name,
        "scores": scores.tolist(),
        "truth": truth.tolist(),
        "roc_auc_score": float(roc_auc_score(truth, scores)),
        "delong_std_error": std_error,
        "average_precision_score": float(average_precision_score(truth, scores)),
        "roc_curve": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thresholds[1:].tolist()},
        "calibration_curve": {"prob_true": prob_true.tolist(), "prob_pred": prob_pred.tolist()},
    }


def main():
    rng = np.random.default_rng(20261202)
    cases = []
    for n, prevalence, signal, decimals in [(40, 0.3, 1.0, 2), (200, 0.1, 1.5, 3), (500, 0.5, 0.3, 2), (1000, 0.03, 2.0, 4)]:
        truth = (rng.random(n) < prevalence).astype(np.int64)
        truth[0], truth[1] = 1, 0  # both classes, whatever the draw
        logits = rng.normal(size=n) + signal * truth
        scores = np.round(1 / (1 + np.exp(-logits)), decimals)
        cases.append(case(f"n{n}_prevalence{prevalence}_ties{decimals}", scores, truth))
    # Every score tied, and a perfect ranking.
    cases.append(case("all_tied", [0.5] * 6, [1, 0, 1, 0, 0, 1]))
    cases.append(case("perfect", [0.9, 0.8, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"sklearn": sklearn.__version__, "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases, scikit-learn {sklearn.__version__})")


if __name__ == "__main__":
    main()
