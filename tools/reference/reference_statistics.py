#!/usr/bin/env python3
"""Reference Ledoit-Wolf statistics for chexlens-reference, made with scikit-learn.

Writes crates/chexlens-reference/tests/fixtures/ledoit_wolf.json: two cases
of pooled "features" (images x features), each with scikit-learn's
LedoitWolf().fit(X) location_, shrinkage_ and precision_, the images' own
Mahalanobis distances (sqrt of lw.mahalanobis(X)), np.percentile of those
distances at 99 and at 90 (linear interpolation), and query vectors, some
far from the images, with their sqrt(lw.mahalanobis(q)).

  wide_sample:  40 images x 12 features from a correlated Gaussian
  few_images:    9 images x 20 features (fewer images than features, so
                 the empirical covariance is singular and only the
                 shrinkage makes it invertible)

Features are rounded to 3 decimals and then to f32, as chexlens holds
them: both sides fit the very same numbers. CI only reads the JSON.

    /tmp/refvenv/bin/python tools/reference/reference_statistics.py

Last run with Python 3.11, numpy 2.4.6 and scikit-learn 1.9.1 (the
versions are also written into the fixture).
"""

import json
import platform
from pathlib import Path

import numpy as np
import sklearn
from sklearn.covariance import LedoitWolf

OUT = Path(__file__).resolve().parents[2] / "crates/chexlens-reference/tests/fixtures/ledoit_wolf.json"


def short(values):
    """10 significant digits: the Rust test holds 1e-4, and the file stays small."""
    return [float(f"{v:.10g}") for v in np.asarray(values, dtype=np.float64).ravel()]


def correlated_features(rng, images, features):
    """A Gaussian with a random covariance (a few strong shared directions)."""
    mixing = rng.normal(size=(features, features)) * 0.3
    mixing[:, :3] += rng.normal(size=(features, 3)) * 1.5
    centre = rng.normal(size=features) * 2.0
    x = centre + rng.normal(size=(images, features)) @ mixing.T
    # As chexlens reads them: 3 decimals in the JSON, then f32.
    return np.round(x, 3), np.round(x, 3).astype(np.float32).astype(np.float64)


def queries(rng, x, lw):
    """A reference image, a point near the mean, and points far away."""
    spread = x.std(axis=0)
    far = [lw.location_ + scale * spread * rng.choice([-1.0, 1.0], size=x.shape[1]) for scale in (10.0, 100.0)]
    return np.stack([x[0], lw.location_ + 0.1 * spread, *far, np.zeros(x.shape[1])])


def case(name, rng, images, features):
    written, x = correlated_features(rng, images, features)
    lw = LedoitWolf().fit(x)
    distances = np.sqrt(lw.mahalanobis(x))
    q = np.round(queries(rng, x, lw), 3)
    q32 = q.astype(np.float32).astype(np.float64)
    return {
        "name": name,
        "images": images,
        "features": features,
        "x": [[float(v) for v in row] for row in written],
        "location": short(lw.location_),
        "shrinkage": float(lw.shrinkage_),
        "precision": short(lw.precision_),
        "distances": short(distances),
        "percentile_99": float(np.percentile(distances, 99)),
        "percentile_90": float(np.percentile(distances, 90)),
        "queries": [[float(v) for v in row] for row in q],
        "query_distances": short(np.sqrt(lw.mahalanobis(q32))),
    }


def main():
    rng = np.random.default_rng(20260611)
    cases = [case("wide_sample", rng, 40, 12), case("few_images", rng, 9, 20)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    versions = {"python": platform.python_version(), "numpy": np.__version__, "sklearn": sklearn.__version__}
    OUT.write_text(json.dumps({**versions, "cases": cases}) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes; {versions})")


if __name__ == "__main__":
    main()
