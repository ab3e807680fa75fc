"""Can the elementwise work of a PCD update use the second core?  Measured, not assumed.

At batch 1000 with two BLAS threads a float64 PCD-1 update of skrbm reaches ~67 % of its
matrix products' time (README, Performance): BLAS runs the products on both cores, numpy
runs the sigmoids and draws on one.  This script times the two ways of giving that work a
second thread, on the hidden layer of the update (2000 x 784 rows times 784 x 500
weights, then the logistic sigmoid of the 2000 x 500 result):

A. **threads between the products**: the product with two BLAS threads, then the sigmoid
   split over two Python threads (numpy releases the GIL).  After a product OpenBLAS keeps
   its worker thread spinning for a while (``OPENBLAS_THREAD_TIMEOUT``, 2^28 cycles by
   default, read once when the library loads), and that thread takes the core the second
   sigmoid thread needed.  Run it again with ``OPENBLAS_THREAD_TIMEOUT=4`` in the
   environment to see the sigmoid halve.
B. **row blocks**: each of two Python threads takes half the rows, product (one BLAS
   thread each) and sigmoid.  The sigmoid halves, but two concurrent single-threaded
   products take longer than one product with two threads.

Usage: ``python benchmarks/elementwise_threads.py [--repeats 20]``.  Prints milliseconds
per call.  No part of skrbm is used: the numbers are about numpy and OpenBLAS on this
machine.
"""

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_limits


def best_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    V = (rng.random((2000, 784)) < 0.13).astype(np.float64)
    W = rng.normal(0, 0.01, (784, 500))
    I = np.empty((2000, 500))
    H = np.empty_like(I)
    pool = ThreadPoolExecutor(1)
    half = V.shape[0] // 2

    def in_two(fn):
        future = pool.submit(fn, half, V.shape[0])
        fn(0, half)
        future.result()

    def sig(a, b):
        expit(I[a:b], out=H[a:b])

    def block(a, b):
        np.matmul(V[a:b], W, out=I[a:b])
        sig(a, b)

    rows = []
    rows.append(("sigmoid alone, 1 thread", best_ms(lambda: sig(0, 2000), args.repeats)))
    rows.append(("sigmoid alone, 2 threads", best_ms(lambda: in_two(sig), args.repeats)))
    rows.append(("product (2 BLAS threads) + sigmoid, 1 thread",
                 best_ms(lambda: (np.matmul(V, W, out=I), sig(0, 2000)), args.repeats)))
    rows.append(("A: product (2 BLAS threads) + sigmoid, 2 threads",
                 best_ms(lambda: (np.matmul(V, W, out=I), in_two(sig)), args.repeats)))
    with threadpool_limits(limits=1, user_api="blas"):
        rows.append(("B: row blocks, 2 threads x (product + sigmoid)",
                     best_ms(lambda: in_two(block), args.repeats)))
    rows.append(("product alone (2 BLAS threads)",
                 best_ms(lambda: np.matmul(V, W, out=I), args.repeats)))
    timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "(unset: 2^28 cycles)")
    print(f"OPENBLAS_THREAD_TIMEOUT={timeout}; best of {args.repeats}, ms per call")
    width = max(len(name) for name, _ in rows)
    for name, ms in rows:
        print(f"{name:<{width}s}  {ms:7.2f}")


if __name__ == "__main__":
    main()
