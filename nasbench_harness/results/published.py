"""Published numbers shown beside ours, always marked "published" (reference.md §5).

A figure stands beside a run only where `labels.published_applies`: the method is official (not MSG-DAS'
reconstruction) and the run searched the variant of the space its paper searched (a DARTS-space figure of
SmoothDARTS belongs to `darts_nonone`, of DARTS to `darts`). reference.md §5 confirms no DARTS-space figure
yet; the NB201 and S1–S4 rows below are keyed by the only variant of their space.

Only the figures marked confirmed there are data here. Left out on purpose: the R-DARTS(L2), (DP),
ES and ADA columns of the S1–S4 table and the NB201 search costs (unconfirmed). The published
numbers come from retrained (S1–S4) or fully trained (NB201 table) networks; ours on S1–S4 are a
surrogate's approximate validation accuracy, so they sit beside each other, not in one column.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasbench_harness.results.labels import published_applies

#: The NAS-Bench-201 paper reports its search results in two blocks, one per `track_running_stats`
#: setting of the search network (Table 5; its author in D-X-Y/AutoDL-Projects issue #70). Which
#: block each figure below comes from is not confirmed in reference.md §5, so every row says so; a
#: run's own setting is `network.track_running_stats` in its metadata.
BN_BLOCK_UNCONFIRMED = "BN block not confirmed"


@dataclass(frozen=True)
class NB201Published:
    """Test accuracy (%) of the cell a method found searching on CIFAR-10, NAS-Bench-201 paper table."""

    label: str
    cifar10_test: float
    cifar100_test: float
    imagenet16_test: float
    #: x-valid accuracies where the source gives them (in brackets in reference.md).
    cifar10_valid: float | None = None
    cifar100_valid: float | None = None
    imagenet16_valid: float | None = None
    note: str = ""
    #: `track_running_stats=True` / `False` block of the paper's table, or BN_BLOCK_UNCONFIRMED.
    bn_block: str = BN_BLOCK_UNCONFIRMED


_ALL_SKIP = "the all-skip cell"
_SAME_CELL = (94.36, 73.51, 46.34)

#: Our method name → the paper's row. Only methods registered under these names get a published column.
#: reference.md §5 gives no NB201 row for SDARTS (sdarts_rs, sdarts_adv), so they have none here.
NB201: dict[str, NB201Published] = {
    "darts": NB201Published("DARTS-V1", 54.30, 15.61, 16.32, 39.77, 15.03, 16.43, _ALL_SKIP),
    "darts_2nd": NB201Published("DARTS-V2", 54.30, 15.61, 16.32, 39.77, 15.03, 16.43, _ALL_SKIP),
    "gdas": NB201Published("GDAS", 93.61, 70.70, 41.71),
    "setn": NB201Published("SETN", 87.64, 59.05, 32.52),
    "enas": NB201Published("ENAS", 53.89, 13.96, 14.84),
    "rsps": NB201Published("RSPS", 84.07, 52.31, 26.28, note="one of two BN-setting blocks in the paper"),
    "drnas": NB201Published("DrNAS", *_SAME_CELL),
    "beta_darts": NB201Published("β-DARTS", *_SAME_CELL),
    "lambda_darts": NB201Published("Λ-DARTS", *_SAME_CELL),
    "pc_darts": NB201Published("PC-DARTS", 93.41, 67.48, 41.31),
    "snas": NB201Published("SNAS", 92.77, 69.34, 43.16),
    "idarts": NB201Published("iDARTS", 93.58, 70.83, 40.89),
}
NB201_OPTIMUM = NB201Published("optimum", 94.37, 73.51, 47.31, note="best cell in the table")
#: The published NB201 rows are for a search on CIFAR-10, on the NAS-Bench-201 space.
NB201_SEARCH_DATASET = "cifar10"
NB201_SPACE = "nb201"

#: DARTS test error (%) of the best-of-4 searched cell, retrained (RobustDARTS table), per (space, dataset).
DARTS_S_TEST_ERROR: dict[tuple[str, str], float] = {
    ("s1", "cifar10"): 3.84,
    ("s2", "cifar10"): 4.85,
    ("s3", "cifar10"): 3.34,
    ("s4", "cifar10"): 7.20,
    ("s1", "cifar100"): 29.46,
    ("s2", "cifar100"): 26.05,
    ("s3", "cifar100"): 28.90,
    ("s4", "cifar100"): 22.85,
    ("s1", "svhn"): 4.58,
    ("s2", "svhn"): 3.53,
    ("s3", "svhn"): 3.41,
    ("s4", "svhn"): 3.05,
}
#: The table's row is "DARTS", searched second order: RobustDARTS' `scripts/DARTS_search.sh` (line 19)
#: passes `--unrolled`, its logged config says `unrolled: true` (`experiments/search_logs/config.yaml`
#: line 15), its README says "2nd order" (line 25). So only our second-order DARTS gets it.
DARTS_S_METHODS = ("darts_2nd",)


def nb201_published(method: str, space: str, dataset: str) -> NB201Published | None:
    """The paper's row for `method`, when our search ran on NB201 on the dataset the paper searched on
    (and `published_applies`)."""
    if space != NB201_SPACE or dataset != NB201_SEARCH_DATASET or not published_applies(method, space):
        return None
    return NB201.get(method)


def s_space_test_error(method: str, space: str, dataset: str) -> float | None:
    """Published DARTS test error on S1–S4 for (space, dataset), or None."""
    if method not in DARTS_S_METHODS or not published_applies(method, space):
        return None
    return DARTS_S_TEST_ERROR.get((space, dataset))
