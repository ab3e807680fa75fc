"""skrbm: restricted Boltzmann machines with label-disentangling constraints.

Implements Fernandez-de-Cossio-Diaz, Cocco and Monasson, "Disentangling Representations in
Restricted Boltzmann Machines without Adversaries", Phys. Rev. X 13, 021003 (2023).
"""

from ._estimators import ConstrainedRBM
from ._training import DivergenceError

__version__ = "0.1.0.dev0"

__all__ = ["ConstrainedRBM", "DivergenceError", "__version__"]
