"""Data sets: generators of synthetic data and loaders of real data."""

from ._faces import load_celeba, make_faces
from ._ising import ising_exact, ising_observables, make_ising
from ._loaders import (
    load_digits_binary,
    load_fashion_mnist,
    load_mnist,
    load_protein_family,
)

__all__ = [
    "ising_exact",
    "ising_observables",
    "make_ising",
    "load_celeba",
    "load_digits_binary",
    "load_fashion_mnist",
    "load_mnist",
    "load_protein_family",
    "make_faces",
]
