"""Suite loading, expansion, layering, hashing, and the messages bad suites get."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasbench_harness.config import RunConfig, TrainConfig
from nasbench_harness.errors import ConfigError
from nasbench_harness.suite_expansion import expand_suite, load_suite

MINIMAL = """\
name: nb201-collapse
profile: smoke
methods: [darts, darts_2nd]
spaces: [nb201, s3]
datasets: [cifar10]
seeds: [0, 1, 2]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_minimal_suite_expands_to_the_grid(tmp_path):
    path = write(tmp_path, MINIMAL)
    runs = expand_suite(load_suite(path), path)
    assert len(runs) == 2 * 2 * 1 * 3
    assert [(r.space, r.method, r.seed) for r in runs[:4]] == [
        ("nb201", "darts", 0),
        ("nb201", "darts", 1),
        ("nb201", "darts", 2),
        ("nb201", "darts_2nd", 0),
    ]
    assert len({r.config_hash() for r in runs}) == len(runs)


def test_layers_apply_in_order(tmp_path):
    path = write(
        tmp_path,
        MINIMAL
        + """\
train: {lr: 0.05}
overrides:
  spaces:
    s3: {train: {weight_decay: 0.001}, network: {channels: 6}}
  methods:
    darts_2nd: {train: {lr: 0.01}}
""",
    )
    runs = {(r.space, r.method): r for r in expand_suite(load_suite(path), path) if r.seed == 0}
    nb201, s3, s3_2nd = runs["nb201", "darts"], runs["s3", "darts"], runs["s3", "darts_2nd"]
    # NB201's own defaults (weight decay 5e-4, Nesterov, its split) under the profile and suite.
    assert nb201.train.weight_decay == 5e-4 and nb201.train.nesterov and nb201.data.split == "nb201_official"
    assert nb201.train.epochs == 4 and nb201.train.lr == 0.05
    assert nb201.network == {"channels": 8, "cells_per_stage": 1, "affine": False, "track_running_stats": False}
    assert s3.train.weight_decay == 0.001 and s3.network == {"channels": 6, "layers": 5}
    assert s3_2nd.train.lr == 0.01 and s3.train.lr == 0.05


def test_no_profile_means_the_published_settings(tmp_path):
    path = write(tmp_path, MINIMAL.replace("profile: smoke\n", ""))
    run = expand_suite(load_suite(path), path)[-1]
    assert run.space == "s3"
    assert run.train == TrainConfig()
    assert run.train.epochs == 50 and run.train.batch_size == 64 and run.train.lr == 0.025
    assert run.train.arch_lr == 3e-4 and run.train.arch_betas == (0.5, 0.999) and run.train.arch_weight_decay == 1e-3
    assert run.network == {"channels": 16, "layers": 8}


def test_config_hash_is_stable_and_sensitive():
    base = RunConfig(method="darts", space="nb201", dataset="cifar10", seed=0)
    same = RunConfig(method="darts", space="nb201", dataset="cifar10", seed=0)
    assert base.config_hash() == same.config_hash()
    changes = [
        base.model_copy(update={"seed": 1}),
        base.model_copy(update={"method": "darts_2nd"}),
        base.model_copy(update={"train": TrainConfig(lr=0.0251)}),
        base.model_copy(update={"network": {"channels": 8}}),
        base.model_copy(update={"method_args": {"x": 1}}),
    ]
    assert len({c.config_hash() for c in changes} | {base.config_hash()}) == len(changes) + 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            MINIMAL.replace("darts_2nd", "darts_2ndd"),
            "unknown method 'darts_2ndd' under 'methods'. Did you mean 'darts_2nd'?",
        ),
        (MINIMAL.replace("s3]", "s5]"), "unknown space 's5'"),
        (MINIMAL + "train: {epoch: 3}\n", ":7: unknown key 'train.epoch'. Did you mean 'epochs'?"),
        (MINIMAL + "trian: {epochs: 3}\n", ":7: unknown key 'trian'. Did you mean 'train'?"),
        (MINIMAL.replace("seeds: [0, 1, 2]", "seeds: [0, one]"), ":6: key 'seeds.1'"),
        (MINIMAL + "train: {lr: fast}\n", ":7: key 'train.lr': Input should be a valid number"),
        (
            MINIMAL.replace("methods: [darts, darts_2nd]", "methods: []"),
            ":3: key 'methods': List should have at least 1 item",
        ),
        (MINIMAL.replace("name: nb201-collapse\n", ""), "missing required key 'name'"),
        (MINIMAL.replace("profile: smoke", "profile: smokey"), "unknown profile 'smokey'"),
        ("- just\n- a list\n", "a suite is a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_suites_get_specific_messages(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        expand_suite(load_suite(path), path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_unreadable_suite_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read suite file .*missing.yaml"):
        load_suite(tmp_path / "missing.yaml")


def test_bad_method_args_name_the_method(tmp_path):
    path = write(tmp_path, MINIMAL + "overrides:\n  methods:\n    darts: {method_args: {lambda: 1}}\n")
    with pytest.raises(ConfigError, match="method_args of darts: unknown key 'lambda'"):
        expand_suite(load_suite(path), path)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("train: {batch_size: -8}", ":7: key 'train.batch_size': Input should be greater than 0 (got -8)."),
        ("train: {lr: -1}", ":7: key 'train.lr': Input should be greater than 0"),
        ("train: {momentum: 1.5}", ":7: key 'train.momentum': Input should be less than 1"),
        ("data: {cutout_length: 0}", ":7: key 'data.cutout_length': Input should be greater than 0"),
        ("overrides:\n  methods:\n    darts: {train: {weight_decay: -1}}\n", ":9: key 'overrides.methods.darts"),
        ("train: {lr: null}", ":7: key 'train.lr' cannot be null: Input should be a valid number. Remove the key"),
    ],
)
def test_out_of_range_and_null_values_name_file_and_line(tmp_path, section, expected):
    path = write(tmp_path, MINIMAL + section + "\n")
    with pytest.raises(ConfigError) as err:
        expand_suite(load_suite(path), path)
    assert f"{path}{expected}" in str(err.value)


def test_null_resets_a_nullable_field_and_changes_the_hash(tmp_path):
    default = expand_suite(load_suite(write(tmp_path, MINIMAL)), "<suite>")[0]
    path = write(
        tmp_path, MINIMAL + "train: {grad_clip: 2.0}\noverrides:\n  methods:\n    darts: {train: {grad_clip: null}}\n"
    )
    runs = {r.method: r for r in expand_suite(load_suite(path), path) if r.space == "nb201" and r.seed == 0}
    assert runs["darts"].train.grad_clip is None and runs["darts_2nd"].train.grad_clip == 2.0
    assert default.train.grad_clip == 5.0 and runs["darts"].config_hash() != default.config_hash()


def test_keys_not_given_keep_the_lower_layers(tmp_path):
    """Only the keys a section names apply: `train: {lr: ..}` leaves the NB201 and profile values alone."""
    path = write(tmp_path, MINIMAL + "train: {lr: 0.05}\n")
    run = expand_suite(load_suite(path), path)[0]
    assert (run.train.lr, run.train.weight_decay, run.train.epochs, run.data.split) == (0.05, 5e-4, 4, "nb201_official")


def test_method_constraints_are_checked_before_any_run_starts(tmp_path):
    """A run its method cannot do is refused at expansion, naming the suite file, the method's line, the run and
    what to change; a suite's own value is never bent (only a profile's is, below)."""
    cases = [
        ("methods: [darts, drnas]\nspaces: [s3]\nnetwork: {channels: 8}\n", 4, r"drnas on s3 cannot run: network"),
        ("methods: [darts_es]\nspaces: [nb201]\nmetrics: {eigenvalue: 'off'}\n", 4, r"darts_es on nb201 cannot"),
        ("methods: [msg_das]\nspaces: [s1]\nmethod_args: {k: 3}\n", 4, r"msg_das on s1 cannot run: method_args.k"),
    ]
    for body, line, message in cases:
        path = write(tmp_path, "name: t\ndatasets: [cifar10]\nseeds: [0]\n" + body)
        with pytest.raises(ConfigError, match=rf"{path}:{line}: {message}.*overrides: {{methods"):
            expand_suite(load_suite(path), path)


def test_a_profile_is_fitted_to_each_method_on_keys_the_suite_leaves(tmp_path):
    """`tiny` turns the eigenvalue off and sets 4 channels: DARTS-ES gets the fast eigenvalue it decides on,
    DrNAS 12 channels (its stages split them into 6 and 4 parts, DARTS-space/train_search.py line 120), DARTS
    the profile as it is; a suite that sets the key itself keeps it (and is refused where it cannot run)."""
    path = write(
        tmp_path,
        "name: t\nprofile: tiny\nmethods: [darts, darts_es, drnas]\nspaces: [s3]\ndatasets: [cifar10]\nseeds: [0]\n",
    )
    runs = {r.method: r for r in expand_suite(load_suite(path), path)}
    assert [runs[m].metrics.eigenvalue for m in ("darts", "darts_es", "drnas")] == ["off", "fast", "off"]
    assert [runs[m].network["channels"] for m in ("darts", "darts_es", "drnas")] == [4, 4, 12]
    path.write_text(path.read_text() + "overrides: {methods: {drnas: {network: {channels: 24}}}}\n")
    assert {r.method: r for r in expand_suite(load_suite(path), path)}["drnas"].network["channels"] == 24
    path.write_text(path.read_text() + "metrics: {eigenvalue: 'off'}\n")
    with pytest.raises(ConfigError, match="darts_es on s3 at profile 'tiny' cannot run"):
        expand_suite(load_suite(path), path)
