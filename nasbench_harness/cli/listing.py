"""`nasbench list spaces|methods|datasets`: what the registries hold."""

from __future__ import annotations

import click

from nasbench_harness.cli.app import main


@main.group("list")
def list_group() -> None:
    """List registered spaces, methods or datasets."""


@list_group.command("spaces")
def list_spaces_command() -> None:
    """Search spaces with their α shapes."""
    from nasbench_harness.spaces import get_space, list_spaces

    for name in list_spaces():
        space = get_space(name)
        shapes = ", ".join(f"{t} {r}x{c}" for t, (r, c) in space.alpha_shapes().items())
        click.echo(f"{name:<8} α: {shapes:<28} {space.description}")


@list_group.command("methods")
def list_methods_command() -> None:
    """Search methods with their first docstring line."""
    from nasbench_harness.methods import get_method_class, list_methods

    for name in list_methods():
        cls = get_method_class(name)
        doc = (cls.__doc__ or __import__("sys").modules[cls.__module__].__doc__ or "").strip().splitlines()
        click.echo(f"{name:<12} {doc[0] if doc else ''}")
