"""Data sets: generators of synthetic data and loaders of real data."""

from ._ising import ising_exact, ising_observables, make_ising

__all__ = [
    "ising_exact",
    "ising_observables",
    "make_ising",
]
