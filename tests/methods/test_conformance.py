"""Every registered method, on a NAS-Bench-201 and a DARTS-family supernet, passes the conformance checks."""

from __future__ import annotations

import pytest

from nasbench_harness.methods import list_methods
from nasbench_harness.testing import check_method


@pytest.mark.parametrize("space", ["nb201", "s3"])
@pytest.mark.parametrize("method", list_methods())
def test_method_conforms(method, space):
    check_method(method, space)
