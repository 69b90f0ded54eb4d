"""Settings dataclasses built from the validated config: unknown keys refused with the section
named, overrides resolved in one place."""

from pathlib import Path

import pytest
import yaml

from learndyn.settings import ConfigError
from learndyn.theory.settings import EXPERIMENTS, configure
from learndyn.train.experiments import FixedPointConfig, LRSweepConfig, MeasureConfig
from learndyn.train.loop import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
QUICK = yaml.safe_load((ROOT / "config/quick.yaml").read_text())


def test_train_settings_build_from_the_quick_profile():
    train = QUICK["train"]
    assert TrainConfig.from_config(train["optim"]).steps == train["optim"]["steps"]
    assert MeasureConfig.from_train(train).noise_sigmas == tuple(train["measure"]["noise_sigmas"])
    sweep = LRSweepConfig.from_train(train)
    optim = sweep.optim(train)
    assert (optim.optimizer, optim.steps, optim.eval_every, optim.checkpoint_every) == (
        train["lr_sweep"]["optimizer"],
        train["lr_sweep"]["steps"],
        train["lr_sweep"]["steps"],
        0,
    )
    assert optim.batch_size == train["optim"]["batch_size"]  # everything else from train.optim
    fp = FixedPointConfig.from_train(train)
    assert fp.optim(train).steps == train["fixed_point"]["steps"]
    assert fp.optim(train).lr == train["fixed_point"]["lr"]  # the study's own rate (not tuned)


@pytest.mark.parametrize(
    ("build", "section"),
    [
        (lambda t: TrainConfig.from_config({**t["optim"], "colour": 1}), "train.optim"),
        (
            lambda t: MeasureConfig.from_train({**t, "measure": {**t["measure"], "colour": 1}}),
            "train.measure",
        ),
        (
            lambda t: LRSweepConfig.from_train({**t, "lr_sweep": {**t["lr_sweep"], "colour": 1}}),
            "train.lr_sweep",
        ),
        (
            lambda t: FixedPointConfig.from_train({**t, "fixed_point": {**t["fixed_point"], "colour": 1}}),
            "train.fixed_point",
        ),
    ],
)
def test_unknown_train_keys_are_refused_with_the_section_named(build, section):
    with pytest.raises(ConfigError, match=rf"config error: {section}: unknown keys \['colour'\]"):
        build(QUICK["train"])


def test_unknown_optimizer_is_refused():
    with pytest.raises(ConfigError, match="train.optim.optimizer"):
        TrainConfig.from_config({"optimizer": "lbfgs"})


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_theory_experiment_configures_and_refuses_unknown_keys(name):
    theory = QUICK["theory"]
    job = configure(name, theory)
    assert job.seeds == tuple(theory["seeds"]) and job.subsample_seed == theory["subsample_seed"]
    with pytest.raises(ConfigError, match=rf"theory\.{name}: unknown keys"):
        configure(name, {**theory, name: {**theory[name], "colour": 1}})


def test_theory_overrides_are_resolved_in_configure():
    theory = {**QUICK["theory"], "n": 32}
    assert configure("identities", theory).n == theory["identities"]["n"] != 32
    assert configure("closed_flow", theory).n == 32
    trunc = configure("truncation", theory)
    assert (trunc.integrator.rtol, trunc.integrator.atol) == (
        theory["truncation"]["rtol"],
        theory["truncation"]["atol"],
    )
    assert configure("closed_flow", theory).integrator.rtol == theory["integrator"]["rtol"]
