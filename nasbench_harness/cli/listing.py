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
    """Search methods with their first docstring line, then every default that departs from the method's
    original code, with why (`Method.departures`; docs/methods.md)."""
    import textwrap

    from nasbench_harness.methods import get_method_class, list_methods

    for name in list_methods():
        cls = get_method_class(name)
        doc = (cls.__doc__ or __import__("sys").modules[cls.__module__].__doc__ or "").strip().splitlines()
        click.echo(f"{name:<12} {doc[0] if doc else ''}")
        for departure in cls.departures or ("none known: every default is the original code's",):
            lines = textwrap.wrap(
                departure, 100, initial_indent="departs: ", subsequent_indent=" " * 9, break_on_hyphens=False
            )
            click.echo("\n".join(" " * 13 + line for line in lines))


@list_group.command("datasets")
def list_datasets_command() -> None:
    """Datasets with their classes, image size, data-directory folder and whether they download themselves."""
    from nasbench_harness.data import get_spec, list_datasets
    from nasbench_harness.data.download import can_download

    rows = [("dataset", "classes", "size", "folder", "files")]
    for name in list_datasets():
        spec = get_spec(name)
        source = "downloaded on first use" if can_download(name) else "manual (see `nasbench data status`)"
        rows.append((name, str(spec.num_classes), f"{spec.image_size}x{spec.image_size}", f"{spec.folder}/", source))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
