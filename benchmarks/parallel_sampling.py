"""Speed-up of the block-parallel samplers of ``skrbm._sampling`` with n_jobs.

(a) ``run_chains``: 512 independent Gibbs chains of a 784 x 64 Bernoulli RBM, 1000 sweeps.
(b) ``ais_log_partition``: 256 AIS particles on the same model (1000 inverse temperatures).

Each is timed with n_jobs=1 and n_jobs=2 (blocks of 64 chains, BLAS limited to one thread
per block; results are bitwise identical) and next to the same work done by one batched
call in the main process (all chains in one array), with BLAS free to use its threads and
limited to one.  The joblib worker pool is started before the timings.  On a machine
shared with other jobs the timings are noisy: the load average is printed.

    python benchmarks/parallel_sampling.py [--quick] [--repeats 1]
"""

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from skrbm._layers import Bernoulli
from skrbm._rbm import RBM
from skrbm._sampling import (
    _ais_block,
    _chain_block,
    ais_betas,
    ais_log_partition,
    run_chains,
)


def make_rbm(N=784, M=64, seed=0):
    rng = np.random.default_rng(seed)
    vis, hid = Bernoulli(N), Bernoulli(M)
    vis.params["theta"][:] = rng.normal(-1.0, 0.5, N)
    hid.params["theta"][:] = rng.normal(-1.0, 0.5, M)
    return RBM(vis, hid, rng.normal(0, 0.05, (N, M)))


def timed(fn, repeats):
    best = float("inf")
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller run (~10x less work)")
    ap.add_argument("--repeats", type=int, default=1, help="best of this many timings")
    args = ap.parse_args(argv)
    n_chains, n_steps, n_ais, n_betas = (512, 1000, 256, 1000)
    if args.quick:
        n_chains, n_steps, n_ais, n_betas = (256, 200, 128, 200)
    rbm = make_rbm()
    print(f"cores: {os.cpu_count()}; load average before: {os.getloadavg()[0]:.1f}; "
          f"model 784 x 64 bernoulli; blocks of 64 chains; best of {args.repeats}")
    # start the joblib worker pool once, outside the timings
    t = time.perf_counter()
    run_chains(rbm, 128, 1, n_jobs=2, random_state=0)
    print(f"worker start-up (first n_jobs=2 call, not in the table): "
          f"{time.perf_counter() - t:.2f}s")
    betas = ais_betas(n_betas)
    tasks = {
        f"(a) run_chains {n_chains} chains x {n_steps} sweeps": (
            lambda j: run_chains(rbm, n_chains, n_steps, n_jobs=j, random_state=0),
            lambda: _chain_block(rbm, None, n_chains, n_steps, 0),
        ),
        f"(b) AIS {n_ais} chains x {n_betas} betas": (
            lambda j: ais_log_partition(rbm, n_chains=n_ais, n_betas=n_betas, n_jobs=j,
                                        random_state=0).log_weights,
            lambda: _ais_block(rbm, rbm.visible.copy(), betas, n_ais, 0),
        ),
    }
    rows = []
    for label, (blocked, batched) in tasks.items():
        t1, r1 = timed(lambda: blocked(1), args.repeats)
        t2, r2 = timed(lambda: blocked(2), args.repeats)
        tb, _ = timed(batched, args.repeats)  # BLAS threads as configured (2 here)
        with threadpool_limits(limits=1):
            tb1, _ = timed(batched, args.repeats)
        rows.append((label, t1, t2, tb, tb1, bool(np.array_equal(r1, r2))))

    print(f"{'task':40s} {'n_jobs=1':>9s} {'n_jobs=2':>9s} {'batched':>9s} {'batched':>9s} "
          f"{'speedup':>8s} {'speedup':>8s} {'n_jobs 1/2':>10s}")
    print(f"{'':40s} {'blocks':>9s} {'blocks':>9s} {'BLAS=2':>9s} {'BLAS=1':>9s} "
          f"{'1 -> 2':>8s} {'bat.->2':>8s} {'identical':>10s}")
    for label, t1, t2, tb, tb1, same in rows:
        print(f"{label:40s} {t1:8.2f}s {t2:8.2f}s {tb:8.2f}s {tb1:8.2f}s {t1 / t2:8.2f} "
              f"{tb / t2:8.2f} {str(same):>10s}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return rows


if __name__ == "__main__":
    main()
