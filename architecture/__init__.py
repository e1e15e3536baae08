"""The one description of a transformer at initialization that both engines read.

``theory`` (SymPy) and ``numerics`` (NumPy) must stay independent of each
other, so the architecture they share lives here, in a package with no
dependencies beyond the standard library.
"""

from architecture.spec import (
    ACTIVATIONS,
    ATTENTIONS,
    NORMS,
    RESIDUAL_SCALINGS,
    TEMPERATURES,
    Architecture,
)
from architecture.sublayers import MLP, Attention, LayerNorm, Residual, Sublayer
from architecture.validate import (
    check_correlation,
    check_finite,
    check_nonnegative,
    check_positive,
    check_positive_int,
)

__all__ = [
    "ACTIVATIONS",
    "ATTENTIONS",
    "MLP",
    "NORMS",
    "RESIDUAL_SCALINGS",
    "TEMPERATURES",
    "Architecture",
    "Attention",
    "LayerNorm",
    "Residual",
    "Sublayer",
    "check_correlation",
    "check_finite",
    "check_nonnegative",
    "check_positive",
    "check_positive_int",
]
