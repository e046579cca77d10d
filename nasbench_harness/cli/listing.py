"""`nasbench list spaces|methods|datasets`: what the registries hold."""

from __future__ import annotations

import sys

import click

from nasbench_harness.cli.app import main


@main.group("list")
def list_group() -> None:
    """List registered spaces, methods or datasets."""


@list_group.command("spaces")
def list_spaces_command() -> None:
    """Search spaces with their α shapes (a variant of a benchmark space says which)."""
    from nasbench_harness.spaces import get_space, list_spaces

    rows = [("space", "α", "description")]
    for name in list_spaces():
        space = get_space(name)
        shapes = ", ".join(f"{t} {r}x{c}" for t, (r, c) in space.alpha_shapes().items())
        variant = f" [a variant of {space.variant_of}]" if space.variant_of else ""
        rows.append((name, shapes, space.description + variant))
    _echo_columns(rows)


@list_group.command("methods")
def list_methods_command() -> None:
    """Search methods: per benchmark space with several variants (the DARTS space: `darts`, `darts_nonone`),
    the variant the method's paper searched; the labels results give it, and on which spaces; the first
    docstring line; then every default that departs from the method's original code, with why
    (`Method.departures`; docs/methods.md)."""
    import textwrap

    from nasbench_harness.methods import get_method_class, list_methods
    from nasbench_harness.spaces import get_space, list_spaces
    from nasbench_harness.spaces.space import variants

    spaces = [get_space(name) for name in list_spaces()]
    benchmarks = sorted({s.benchmark for s in spaces if len(variants(s.benchmark)) > 1})
    rows = [("method", *(f"paper's {b} space" for b in benchmarks), "labels", "description")]
    for name in list_methods():
        cls = get_method_class(name)
        papers = [cls.paper_space(get_space(b)) or "not known" for b in benchmarks]
        where: dict[tuple[str, ...], list[str]] = {}
        for space in spaces:
            notes = ("unofficial",) * (not cls.official) + cls.label_notes(space)
            if notes:
                where.setdefault(tuple(notes), []).append(space.name)
        shown = "; ".join(
            ", ".join(notes) + ("" if len(names) == len(spaces) else f" on {', '.join(names)}")
            for notes, names in where.items()
        )
        doc = (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip().splitlines()
        rows.append((name, *papers, shown or "-", doc[0] if doc else ""))
    _echo_columns(rows)
    click.echo("\nDefaults that depart from each method's original code:")
    for name in list_methods():
        click.echo(name)
        for departure in get_method_class(name).departures or ("none known: every default is the original code's",):
            wrapped = textwrap.wrap(
                departure, 100, initial_indent="  - ", subsequent_indent="    ", break_on_hyphens=False
            )
            click.echo("\n".join(wrapped))


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


def _echo_columns(rows: list[tuple[str, ...]]) -> None:
    """Rows as left-aligned columns, the last one unpadded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip())
