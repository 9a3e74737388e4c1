"""FID's two forms timed on Inception-sized features, beside scipy's value.

  python -m tools.fid_speed [--sizes=1000,10000] [--dim=2048]

For N = M in `--sizes` random [N, dim] feature sets (a shared random mixing,
so the covariances are full and not isotropic): seconds of the D x D form
(`feature_statistics` twice + `frechet_distance`: two D x D eigendecompositions)
and of `fid` (the features form: one SVD of at most min(N, D) x min(M, D)),
each the best of `--repeats` after one compiling call, and both values'
relative difference to the pytorch-fid formula (np.cov + scipy.linalg.sqrtm).
Run it alone on the machine; the matmul peak is printed beside the times.
"""

from __future__ import annotations

import time

from absl import app, flags
import numpy as np
import scipy.linalg

from gan_jax.metrics import fid
from tools import benchmark

_SIZES = flags.DEFINE_list("sizes", ["1000", "10000"], "Samples per set.")
_DIM = flags.DEFINE_integer("dim", 2048, "Feature dimension.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timed calls per form (best is kept).")


def _best_seconds(fn, repeats: int) -> tuple[float, float]:
  value = fn()  # compiles
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    value = fn()
    times.append(time.perf_counter() - start)
  return min(times), value


def _scipy_fid(x: np.ndarray, y: np.ndarray) -> float:
  s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return float(np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def main(argv):
  del argv
  dim = _DIM.value
  print(f"float32 matmul peak {benchmark.matmul_peak_gflops():.0f} GFLOP/s")
  print("| N = M | D | D x D form s | features form s | speed-up | "
        "rel. diff D x D vs scipy | rel. diff features vs scipy |")
  print("|---|---|---|---|---|---|---|")
  rng = np.random.default_rng(0)
  mix = rng.normal(size=(dim, dim)) / np.sqrt(dim)
  for n in map(int, _SIZES.value):
    x = np.maximum(rng.normal(size=(n, dim)) @ mix, 0.0)
    y = np.maximum(rng.normal(size=(n, dim)) @ mix * 1.1 + 0.05, 0.0)

    def covariance_form():
      mu1, s1 = fid.feature_statistics(x)
      mu2, s2 = fid.feature_statistics(y)
      return fid.frechet_distance(mu1=mu1, sigma1=s1, mu2=mu2, sigma2=s2)
    t_cov, v_cov = _best_seconds(covariance_form, _REPEATS.value)
    t_feat, v_feat = _best_seconds(lambda: fid.fid(real_features=x, fake_features=y),
                                   _REPEATS.value)
    ref = _scipy_fid(x, y)
    print(f"| {n:,} | {dim} | {t_cov:.2f} | {t_feat:.2f} | {t_cov / t_feat:.1f}x | "
          f"{abs(v_cov - ref) / abs(ref):.1e} | {abs(v_feat - ref) / abs(ref):.1e} |", flush=True)


if __name__ == "__main__":
  app.run(main)
