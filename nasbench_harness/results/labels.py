"""How results name a (method, space): what the method and space classes say, asked in one place.

A method says which variant of a benchmark space its paper searched (`Method.paper_space`), whether it is
an official implementation (`Method.official`) and what qualifies its name on a space (`label_notes`:
"unofficial", "StacNAS-style"). Tables, leaderboard, plots and the report label rows with `run_label` and
attach a published figure only where `published_applies`. Names no longer registered (results of an older
harness) keep their bare name and get no mark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunLabel:
    """What results say about a method on a space."""

    method: str
    #: The registered space the method's paper searched for this benchmark ("" where not known).
    paper_space: str = ""
    #: The run's space is another variant of the benchmark than the paper's.
    off_paper_space: bool = False
    official: bool = True
    #: The method's notes on the space (`Method.label_notes`: where it runs as the harness's extension).
    notes: tuple[str, ...] = ()

    @property
    def qualifiers(self) -> tuple[str, ...]:
        """What the name carries in brackets: "unofficial", the notes, "paper searched X" where off it."""
        unofficial = () if self.official else ("unofficial",)
        off = (f"paper searched {self.paper_space}",) if self.off_paper_space else ()
        return (*unofficial, *self.notes, *off)

    def text(self, *first: str) -> str:
        """The name with `first` (e.g. the DARTS order) and the qualifiers in brackets:
        "msg_das (unofficial)", "darts_es (first order; paper searched darts)"."""
        parts = (*first, *self.qualifiers)
        return f"{self.method} ({'; '.join(parts)})" if parts else self.method


def run_label(method: str, space: str) -> RunLabel:
    cls, space_obj = _method_class(method), _space(space)
    if cls is None or space_obj is None:
        return RunLabel(method)
    paper = cls.paper_space(space_obj)
    return RunLabel(method, paper or "", cls.off_paper_space(space_obj), bool(cls.official), cls.label_notes(space_obj))


def official(method: str) -> bool:
    """False for a registered reconstruction without public code (`Method.official`)."""
    cls = _method_class(method)
    return cls is None or bool(cls.official)


def published_applies(method: str, space: str) -> bool:
    """Whether a published figure may stand beside `method`'s runs on `space`: the method is official and
    the run searched the variant of the space its paper searched."""
    label = run_label(method, space)
    return label.official and not label.off_paper_space


def family(space: str) -> str:
    """The space's network family ("darts", "nb201"; "" for a space no longer registered)."""
    found = _space(space)
    return found.family if found is not None else ""


def _method_class(method: str) -> Any:
    from nasbench_harness.methods import get_method_class, list_methods

    return get_method_class(method) if method in list_methods() else None


def _space(space: str) -> Any:
    from nasbench_harness.spaces import get_space, list_spaces

    return get_space(space) if space in list_spaces() else None
