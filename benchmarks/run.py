"""Training-throughput benchmark: skrbm vs scikit-learn, the GEMM roofline and ``rbms``.

Everything runs in ONE process on the same data (binary, pixel density ~0.13, N=784):

1. PCD-1 throughput (samples/s) of ``ConstrainedRBM(500, order=0, batch_size=B)`` for B
   in {100, 1000} and float64/float32: a whole 2-epoch ``fit`` (setup included) against
   ``sklearn.neural_network.BernoulliRBM(500, batch_size=B, n_iter=2)``; one steady-state
   epoch against the optional PyPI package ``rbms`` (PyTorch, CPU: ``pip install
   torch==2.13.0 rbms``; its own PCD update ``fit_batch_pcd``) and the *roofline*: the
   time of the five GEMMs of a PCD-1 step alone (hidden state of the chains -> visible,
   hidden inputs of the data and of the new chains, <v h>_data and <v h>_model), as skrbm
   groups them (three calls: the two input products stacked into one (2B x N) @ (N x M),
   the two statistics into one (N x 2B) @ (2B x M)), on preallocated arrays of the same
   shapes and dtype.  (A step that also draws the chains' hidden state afresh from v,
   as skrbm once did, has a sixth product.)
   A third skrbm fit uses BernoulliRBM's update rule (``optimizer="sgd",
   center=False``): the like-for-like comparison of the two implementations, next to the
   comparison of their defaults.
2. Per-step overhead of the label constraints (order 1, order 2 exact, order 2 penalty)
   at N=784, M=256, batch 1000 and 100, T=1 and T=9 label directions (random labels), as
   a percentage of an unconstrained step.
3. Peak RSS of an order-2 fit at N=4096, M=256, T=1 and T=9 label directions (in a
   subprocess, from VmHWM), next to the size the dense Q (N x N x T) would have.
4. The parallel speed-ups of the samplers (``benchmarks/parallel_sampling.py``).

    python benchmarks/run.py [--quick]

Timings are minima over repeats (the machine may be shared).  OPENBLAS_CORETYPE, if set
in the environment, is left as it is.
"""

import argparse
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np

N_FEATURES = 784
DENSITY = 0.13


# ----------------------------------------------------------------------------- machine
def machine_info():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    lines = [f"CPU: {cpu}; logical cores: {os.cpu_count()}; "
             f"affinity: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}",
             f"python {platform.python_version()}, numpy {np.__version__}"]
    try:
        import scipy
        import sklearn

        lines[-1] += f", scipy {scipy.__version__}, scikit-learn {sklearn.__version__}"
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info.get("user_api") == "blas":
                lines.append(f"BLAS: {info.get('internal_api')} {info.get('version')} "
                             f"({info.get('architecture')}, {info.get('num_threads')} threads, "
                             f"{os.path.basename(info.get('filepath', ''))})")
    except ImportError:
        lines.append("BLAS: threadpoolctl not installed")
    core = os.environ.get("OPENBLAS_CORETYPE")
    if core:
        lines.append(f"OPENBLAS_CORETYPE={core}")
    return "\n".join(lines)


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, N_FEATURES)) < DENSITY).astype(np.float64)


# ----------------------------------------------------------------------------- timers
N_EPOCHS = 2  # epochs of every timed fit


def time_skrbm(X, B, repeats, M=500, **kw):
    """(seconds of a whole ``fit`` of N_EPOCHS epochs, seconds of its last epoch)."""
    from skrbm import ConstrainedRBM

    best_fit = best_epoch = np.inf
    for r in range(repeats):
        m = ConstrainedRBM(M, order=0, batch_size=B, n_iter=N_EPOCHS, random_state=r, **kw)
        t = time.perf_counter()
        m.fit(X)
        best_fit = min(best_fit, time.perf_counter() - t)
        best_epoch = min(best_epoch, m.history_[-1]["time"])
    return best_fit, best_epoch


def time_sklearn(X, B, repeats, M=500):
    """Seconds of a whole ``fit`` of N_EPOCHS epochs (its setup is negligible)."""
    from sklearn.neural_network import BernoulliRBM

    BernoulliRBM(M, batch_size=B, n_iter=1, random_state=0).fit(X[:max(B, 2000)])  # warm-up
    best = np.inf
    for r in range(repeats):
        m = BernoulliRBM(M, batch_size=B, n_iter=N_EPOCHS, random_state=r)
        t = time.perf_counter()
        m.fit(X)
        best = min(best, time.perf_counter() - t)
    return best, m.components_.dtype


def time_roofline(n, B, dtype, repeats, M=500):
    """Seconds per epoch of the 5 GEMMs of a PCD-1 step alone, on preallocated arrays."""
    rng = np.random.default_rng(0)
    N = N_FEATURES
    W = (rng.standard_normal((N, M)) * 0.01).astype(dtype)
    h = (rng.random((B, M)) < 0.5).astype(dtype)
    Iv = np.empty((B, N), dtype)
    V = (rng.random((2 * B, N)) < DENSITY).astype(dtype)  # data rows, then chain rows
    I = np.empty((2 * B, M), dtype)
    R = (rng.random((2 * B, M)) - 0.5).astype(dtype)
    gW = np.empty((N, M), dtype)
    steps = -(-n // B)

    def step():
        np.matmul(h, W.T, out=Iv)     # Gibbs: hidden state of the chains -> visible
        np.matmul(V, W, out=I)        # hidden inputs of the data and of the new chains
        np.matmul(V.T, R, out=gW)     # stacked <v h>_data - <v h>_model

    for _ in range(3):
        step()
    best = np.inf
    for _ in range(max(repeats, 3)):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, time.perf_counter() - t)
    return best


# ----------------------------------------------------------------------------- rbms
def rbms_runner():
    """Return a function (X, B, dtype, repeats) -> seconds per epoch, or a skip message."""
    try:
        import torch
        import rbms  # noqa: F401
        from rbms.bernoulli_bernoulli.classes import BBRBM
    except Exception as exc:  # ImportError, or an incompatible build
        return None, f"rbms unavailable ({type(exc).__name__}: {exc})"

    def run(X, B, dtype, repeats, M=500):
        from rbms.training.pcd import fit_batch_pcd

        torch.manual_seed(0)
        tdtype = torch.float64 if dtype == np.float64 else torch.float32
        data = torch.from_numpy(np.ascontiguousarray(X, dtype=dtype))
        weights = torch.ones(data.shape[0], dtype=tdtype)
        N = X.shape[1]
        params = BBRBM(weight_matrix=0.01 * torch.randn(N, M, dtype=tdtype),
                       vbias=torch.zeros(N, dtype=tdtype), hbias=torch.zeros(M, dtype=tdtype))
        params.init_grad()
        opt = torch.optim.SGD(params.parameters(), lr=0.01, maximize=True)
        chains = params.init_chains(B)

        def epoch():  # the package's own PCD update (rbms.training.pcd.train's loop body)
            nonlocal chains
            perm = torch.randperm(data.shape[0])
            with torch.no_grad():
                for s in range(0, data.shape[0], B):
                    idx = perm[s:s + B]
                    opt.zero_grad(set_to_none=False)
                    chains, _ = fit_batch_pcd((data[idx], weights[idx]), chains, params,
                                              gibbs_steps=1, beta=1.0)
                    opt.step()

        epoch()
        best = np.inf
        for _ in range(repeats):
            t = time.perf_counter()
            epoch()
            best = min(best, time.perf_counter() - t)
        return best

    from importlib.metadata import version

    return run, f"rbms {version('rbms')} (torch {torch.__version__}, " \
                f"{torch.get_num_threads()} threads, CPU)"


# ----------------------------------------------------------------------------- constraints
def constraint_overhead(X, batches, Ts, repeats, M=256, n_steps=3, exact_multi=False):
    """Seconds per PCD step of each configuration, and the overhead over order 0 in %.

    Each model is set up by ``fit`` with ``n_iter=0`` on all of ``X`` (label statistics,
    constraint initialisation), then ``n_steps`` updates of its trainer are timed one by
    one after a warm-up step, on the same minibatch for every configuration; the minimum
    over steps and repeats is kept.  Timing steps rather than epochs keeps the slow
    configurations affordable without changing what one step costs.

    The exact second order with several label directions is skipped unless
    ``exact_multi``: at T=9 its coupled solves take seconds per step and, with M=256
    above the isotropic bound, its feasible start takes minutes.
    """
    from skrbm import ConstrainedRBM

    rng = np.random.default_rng(1)
    configs = [("order 0", dict(order=0)), ("order 1", dict(order=1)),
               ("order 2 exact", dict(order=2, second_order="exact")),
               ("order 2 penalty", dict(order=2, second_order="penalty"))]
    rows = []
    for B in batches:
        vd = X[:B]
        wd = np.full(B, 1.0 / B)
        for T in Ts:
            y = rng.integers(0, T + 1, X.shape[0])
            per_step = {}
            for r in range(repeats):
                for name, kw in configs:
                    if T > 1 and name == "order 2 exact" and not exact_multi:
                        per_step[name] = np.nan  # see --exact-multi
                        continue
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        m = ConstrainedRBM(M, batch_size=B, n_iter=0, random_state=r,
                                           **kw).fit(X, y)
                        trainer, rbm = m.trainer_, m.rbm_
                        trainer._rng = trainer.rng
                        trainer.step(rbm, vd, wd)  # warm-up
                        for _ in range(n_steps):
                            t = time.perf_counter()
                            trainer.step(rbm, vd, wd)
                            t = time.perf_counter() - t
                            per_step[name] = min(per_step.get(name, np.inf), t)
            base = per_step["order 0"]
            rows.append((B, T, base, {k: 100.0 * (v - base) / base
                                      for k, v in per_step.items() if k != "order 0"}))
    return rows


def _pct(x):
    return "skipped" if np.isnan(x) else f"{x:.1f}%"


MEMORY_SCRIPT = r"""
import resource, sys, warnings
import numpy as np
from skrbm import ConstrainedRBM
n, N, M = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
X = (rng.random((n, N)) < 0.13).astype(np.float64)
y = rng.integers(0, int(sys.argv[4]) + 1, n)
def hwm():  # peak RSS of this process image in KiB (ru_maxrss survives exec on Linux)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
before = hwm()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ConstrainedRBM(M, order=2, batch_size=100, n_iter=2, random_state=0).fit(X, y)
after = hwm()
print(before, after)
"""


def peak_rss(n=300, N=4096, M=256, T=1):
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(n), str(N), str(M), str(T)],
                         capture_output=True, text=True, check=True)
    before, after = map(int, out.stdout.split())
    return before / 2**20, after / 2**20  # KiB -> GiB


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer samples and repeats (a smoke run, noisier)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timing repeats (default 1 with --quick, else 2)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-constraints", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-parallel", action="store_true")
    ap.add_argument("--exact-multi", action="store_true",
                    help="also time the exact second order at T=9 (minutes of set-up)")
    args = ap.parse_args()
    n = 5000 if args.quick else 20000
    repeats = args.repeats or (1 if args.quick else 2)

    import skrbm  # noqa: F401  (imported before any timing)

    print(machine_info())
    X = make_data(n)
    print(f"data: {n} x {N_FEATURES} binary, density {X.mean():.3f}; M=500, PCD-1; "
          f"min over {repeats} repeat(s)\n")

    rb_run, rb_msg = rbms_runner() if not args.skip_throughput else (None, "")
    print(rb_msg)
    header = (f"{'dtype':8s} {'B':>5s} {'skrbm fit':>10s} {'sklearn':>9s} {'x sklearn':>10s} "
              f"{'skrbm ep.':>10s} {'roofline':>9s} {'%roofline':>10s} {'rbms ep.':>9s} "
              f"{'x rbms':>7s} {'ceiling x sk':>13s} {'sgd fit':>8s} {'sgd x sk':>9s}")
    print(f"\nPCD-1 training throughput (samples/s).  'fit': a whole {N_EPOCHS}-epoch fit "
          "through the public API,\nsetup included (skrbm vs sklearn BernoulliRBM); 'ep.': one "
          "steady-state epoch (skrbm's last epoch,\nrbms' training loop, the GEMMs alone); "
          "'ceiling x sk': roofline / sklearn, the largest\nspeed-up over sklearn that any "
          "implementation of the same 5 products could reach; 'sgd': skrbm with\n"
          "BernoulliRBM's update rule (optimizer='sgd', center=False) instead of its defaults "
          "(Adam, centering)")
    print(header)
    results = {}
    for dtype in () if args.skip_throughput else (np.float64, np.float32):
        Xd = X.astype(dtype)
        for B in (100, 1000):
            # the contenders alternate within each repeat (load on a shared machine
            # drifts), and each keeps its best time
            t_sk = t_fit = t_ep = t_rf = t_sgd = np.inf
            t_rb = None
            for r in range(repeats):
                t, dt_sk = time_sklearn(Xd, B, 1)
                t_sk = min(t_sk, t)
                tf, te = time_skrbm(Xd, B, 1)
                t_fit, t_ep = min(t_fit, tf), min(t_ep, te)
                t_sgd = min(t_sgd, time_skrbm(Xd, B, 1, optimizer="sgd", center=False)[0])
                t_rf = min(t_rf, time_roofline(n, B, dtype, 1))
                if rb_run is not None:
                    try:
                        t_rb = min(t_rb or np.inf, rb_run(Xd, B, dtype, 1))
                    except Exception as exc:
                        print(f"rbms failed: {type(exc).__name__}: {exc}")
                        rb_run = None
            thr = {"fit": N_EPOCHS * n / t_fit, "sklearn": N_EPOCHS * n / t_sk,
                   "epoch": n / t_ep, "roofline": n / t_rf,
                   "rbms": n / t_rb if t_rb else None, "sgd fit": N_EPOCHS * n / t_sgd}
            results[(np.dtype(dtype).name, B)] = thr
            rb = (f"{thr['rbms']:9.0f} {thr['epoch'] / thr['rbms']:7.2f}" if thr["rbms"]
                  else f"{'-':>9s} {'-':>7s}")
            note = "" if dt_sk == dtype else f"  (sklearn ran in {dt_sk})"
            print(f"{np.dtype(dtype).name:8s} {B:5d} {thr['fit']:10.0f} {thr['sklearn']:9.0f} "
                  f"{thr['fit'] / thr['sklearn']:10.2f} {thr['epoch']:10.0f} "
                  f"{thr['roofline']:9.0f} {100 * thr['epoch'] / thr['roofline']:9.0f}% "
                  f"{rb} {thr['roofline'] / thr['sklearn']:13.2f} {thr['sgd fit']:8.0f} "
                  f"{thr['sgd fit'] / thr['sklearn']:9.2f}{note}")

    if not args.skip_constraints:
        Xc = X[:min(n, 10000)]
        rows = constraint_overhead(Xc, (1000, 100), (1, 9), repeats=1 if args.quick else 2,
                                   exact_multi=args.exact_multi)
        print(f"\nConstraint overhead per step, N=784, M=256, {len(Xc)} samples "
              "(% of an unconstrained step)")
        print(f"{'B':>5s} {'T':>3s} {'order 0 ms':>11s} {'order 1':>9s} {'o2 exact':>9s} "
              f"{'o2 penalty':>11s}")
        for B, T, base, ov in rows:
            print(f"{B:5d} {T:3d} {1e3 * base:11.2f} {ov['order 1']:8.1f}% "
                  f"{_pct(ov['order 2 exact']):>9s} {ov['order 2 penalty']:10.1f}%")
        if any(np.isnan(ov["order 2 exact"]) for _, _, _, ov in rows):
            print("(o2 exact at T=9 skipped: run with --exact-multi)")

    if not args.skip_memory:
        print("\nPeak RSS of an order-2 fit (exact), N=4096, M=256, 300 samples")
        print(f"{'T':>3s} {'peak RSS':>9s} {'imports+data':>13s} {'dense Q would be':>17s}")
        for T in (1, 9):
            before, after = peak_rss(T=T)
            print(f"{T:3d} {after:8.2f}G {before:12.2f}G {4096 * 4096 * T * 8 / 2**30:16.2f}G")

    if not args.skip_parallel:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import parallel_sampling

        print("\nParallel samplers (benchmarks/parallel_sampling.py)")
        parallel_sampling.main((["--quick"] if args.quick else [])
                               + ["--repeats", str(repeats)])


if __name__ == "__main__":
    main()
