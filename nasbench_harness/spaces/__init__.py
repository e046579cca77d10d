"""Search spaces: `get_space(name)` / `list_spaces()`; a new space is one module here with `@register_space`.

Every module in this package is imported, so the decorator is all a new space needs.
"""

from nasbench_harness.registry import import_submodules
from nasbench_harness.spaces.genotype import DartsGenotype, Genotype, NB201Genotype, op_counts
from nasbench_harness.spaces.space import SearchSpace, get_space, list_spaces, register_space
from nasbench_harness.spaces.supernet import Supernet

import_submodules(__name__, __path__)

__all__ = [
    "DartsGenotype",
    "Genotype",
    "NB201Genotype",
    "SearchSpace",
    "Supernet",
    "get_space",
    "list_spaces",
    "op_counts",
    "register_space",
]
