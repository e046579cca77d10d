"""The `nasbench` click group; command modules in this package attach themselves to it."""

from __future__ import annotations

import click

from nasbench_harness import __version__
from nasbench_harness.errors import HarnessError


class HarnessGroup(click.Group):
    """Turns HarnessError into a one-line "Error: ..." message and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HarnessError as err:
            raise click.ClickException(str(err)) from None


@click.group(cls=HarnessGroup)
@click.version_option(__version__, prog_name="nasbench")
def main() -> None:
    """Benchmark harness for differentiable neural architecture search."""
