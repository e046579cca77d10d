"""Fixtures over the space registry: a newly registered space is picked up by every generic test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from nasbench_harness.spaces import SearchSpace, Supernet, get_space, list_spaces
from nasbench_harness.spaces.space import DartsFamilySpace
from nasbench_harness.testing import TINY_NETWORK

ALL_SPACES = list_spaces()
DARTS_FAMILY = [n for n in ALL_SPACES if isinstance(get_space(n), DartsFamilySpace)]


@pytest.fixture(params=ALL_SPACES)
def space(request: pytest.FixtureRequest) -> SearchSpace:
    return get_space(request.param)


@pytest.fixture(params=DARTS_FAMILY)
def darts_family_space(request: pytest.FixtureRequest) -> DartsFamilySpace:
    return get_space(request.param)  # type: ignore[return-value]


@pytest.fixture
def build_tiny() -> Callable[..., Supernet]:
    """`build_tiny(space, **overrides)`: the space's supernet at test width."""

    def build(space: SearchSpace, **overrides: Any) -> Supernet:
        return space.build_supernet(**{**TINY_NETWORK[space.name], **overrides})

    return build


def tiny_batch(batch: int = 3, size: int = 8, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0), dtype=dtype)


@pytest.fixture
def batch() -> Callable[..., torch.Tensor]:
    return tiny_batch
