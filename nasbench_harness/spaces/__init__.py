"""Search spaces: `get_space(name)` / `list_spaces()`; a new space is one module + `@register_space`."""

from nasbench_harness.spaces import darts_spaces, nb201_space  # noqa: F401  (registers the spaces)
from nasbench_harness.spaces.genotype import DartsGenotype, Genotype, NB201Genotype, op_counts
from nasbench_harness.spaces.space import SearchSpace, get_space, list_spaces, register_space
from nasbench_harness.spaces.supernet import Supernet

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
