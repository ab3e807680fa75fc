"""skrbm: restricted Boltzmann machines with label-disentangling constraints.

Implements Fernandez-de-Cossio-Diaz, Cocco and Monasson, "Disentangling Representations in
Restricted Boltzmann Machines without Adversaries", Phys. Rev. X 13, 021003 (2023).
"""

from ._constrained import DisentangledRBM
from ._erasure import LabelErasure
from ._estimators import ConstrainedRBM
from ._gaussian_cost import GaussianErasureCost, gaussian_erasure_cost
from ._training import DivergenceError

__version__ = "0.1.0.dev0"

__all__ = [
    "ConstrainedRBM",
    "DisentangledRBM",
    "DivergenceError",
    "GaussianErasureCost",
    "LabelErasure",
    "gaussian_erasure_cost",
    "__version__",
]
