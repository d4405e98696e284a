"""The search space: parsing the `sweep` section, grid coverage, samplers/pruners, key checks."""
import optuna
import pytest

from mlpose.config import load_config
from mlpose.errors import ConfigError
from mlpose.sweep.space import check_against_config, grid_points, option_text, parse_sweep

LR = "optim_wrapper.optimizer.lr"
SEED = "randomness.seed"


def spec_of(**sweep):
    base = dict(params={LR: dict(type="float", low=1e-4, high=1e-2, log=True, values=[1e-3, 3e-3]),
                        SEED: dict(type="categorical", choices=[0, 1, 2])})
    return parse_sweep({"sweep": {**base, **sweep}}, "cfg.py")


def test_tiny_sweep_recipe_parses_and_its_keys_exist():
    cfg = load_config("tiny-sweep")
    spec = parse_sweep(cfg, cfg.filename)
    assert spec.metric == "coco/AP" and spec.direction == "maximize"
    assert [p.key for p in spec.params] == [LR, SEED]
    assert spec.params[0].distribution == optuna.distributions.FloatDistribution(3e-4, 1e-2, log=True)
    check_against_config(spec, "tiny-sweep", [])


def test_cli_values_override_the_config():
    spec = spec_of(n_trials=8, storage="a.journal")
    assert (spec.n_trials, spec.storage) == (8, "a.journal")
    cfg = {"sweep": {"params": {SEED: dict(type="categorical", choices=[0, 1])}, "n_trials": 8}}
    spec = parse_sweep(cfg, "cfg.py", n_trials=3, storage="b.journal", study_name="s")
    assert (spec.n_trials, spec.storage, spec.study_name) == (3, "b.journal", "s")


def test_grid_sampler_covers_lr_x_seed_exactly_once():
    spec = spec_of(sampler="grid")
    assert spec.grid_size == 6
    study = optuna.create_study(sampler=spec.build_sampler())
    study.optimize(lambda t: sum(hash(str(p.suggest(t))) % 7 for p in spec.params), n_trials=spec.grid_size)
    seen = sorted((t.params[LR], t.params[SEED]) for t in study.trials)
    assert seen == sorted((p[LR], p[SEED]) for p in grid_points(spec))
    assert len(set(seen)) == 6


def test_float_range_without_values_cannot_be_gridded():
    with pytest.raises(ConfigError, match=r"sweep.params.optim_wrapper.optimizer.lr: the grid sampler needs explicit"):
        parse_sweep({"sweep": {"params": {LR: dict(type="float", low=1e-4, high=1e-2)}, "sampler": "grid"}}, "cfg.py")


def test_int_range_is_gridded_and_categorical_choices_are_grid_points():
    spec = parse_sweep({"sweep": {"sampler": "grid", "params": {
        "train_dataloader.batch_size": dict(type="int", low=2, high=6, step=2),
        "model.test_cfg.flip_test": dict(type="categorical", choices=[True, False])}}}, "cfg.py")
    assert spec.params[0].grid == (2, 4, 6) and spec.params[1].grid == (True, False)
    assert spec.grid_size == 6


@pytest.mark.parametrize("params, message", [
    ({LR: dict(type="uniform", low=0, high=1)}, "expected dict.type='float'"),
    ({LR: dict(type="float", low=1e-4, high=1e-2, lgo=True)}, "unknown key.s. lgo"),
    ({LR: dict(type="float", low=1e-2, high=1e-4)}, LR),
    ({LR: dict(type="float", low=0.0, high=1e-2, log=True)}, LR),
    ({LR: dict(type="float", values=[1e-3, 1e-3])}, "repeat a point"),
    ({LR: dict(type="float", low=1e-3, high=1e-2, values=[1e-1])}, "outside"),
    ({SEED: dict(type="int", low=0.5, high=3)}, "expected a finite int"),
    ({SEED: dict(type="categorical", choices=[])}, "non-empty choices"),
    ({"model.codec": dict(type="categorical", choices=[[1, 2]])}, "must be None, bool, int, float or str"),
    ({"a": dict(type="categorical", choices=["1"])}, "reads back as 1"),
    ({}, "sweep.params must map"),
])
def test_bad_params_are_config_errors(params, message):
    with pytest.raises(ConfigError, match=message):
        parse_sweep({"sweep": {"params": params}}, "cfg.py")


@pytest.mark.parametrize("sweep, message", [
    (dict(direction="up"), "sweep.direction='up'"),
    (dict(sampler="cmaes"), "sweep.sampler: unknown 'cmaes'; use one of tpe, random, grid"),
    (dict(pruner=dict(type="median", warmup=2)), "sweep.pruner: .*warmup"),
    (dict(sampler=dict(type="tpe", n_startup=1)), "sweep.sampler: .*n_startup"),
    (dict(n_trials=0), "sweep.n_trials=0"),
    (dict(heartbeat_interval=10, grace_period=10), "must exceed"),
])
def test_bad_sweep_settings_are_config_errors(sweep, message):
    with pytest.raises(ConfigError, match=message):
        spec = spec_of(**sweep)
        spec.build_sampler()
        spec.build_pruner()


def test_no_sweep_section_is_a_config_error():
    with pytest.raises(ConfigError, match="no `sweep` section"):
        parse_sweep(load_config("tiny"), "tiny.py")


def test_samplers_and_pruners_are_built_with_their_arguments():
    spec = spec_of(sampler=dict(type="tpe", seed=3, n_startup_trials=2),
                   pruner=dict(type="successive_halving", min_resource=1))
    assert isinstance(spec.build_sampler(), optuna.samplers.TPESampler)
    assert isinstance(spec.build_pruner(), optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(spec_of(pruner=None).build_pruner(), optuna.pruners.NopPruner)
    assert isinstance(spec_of(pruner="none").build_pruner(), optuna.pruners.NopPruner)
    # local workers get different seeds, or they would all sample the same points
    a, b = spec_of(sampler=dict(type="random", seed=3)).build_sampler(0), spec_of(sampler=dict(type="random", seed=3)).build_sampler(1)
    assert a._rng.rng.random() != b._rng.rng.random()


def test_unknown_key_path_fails_before_any_trial():
    cfg = {"sweep": {"params": {"optim_wrapper.optimizer.lrr": dict(type="float", low=1e-4, high=1e-2)}}}
    spec = parse_sweep(cfg, "cfg.py")
    with pytest.raises(ConfigError, match=r"sweep.params: .*optim_wrapper.optimizer.lrr.*closest existing keys: optim_wrapper.optimizer.lr"):
        check_against_config(spec, "tiny-sweep", [])


def test_wrongly_typed_value_fails_before_any_trial():
    spec = parse_sweep({"sweep": {"params": {SEED: dict(type="categorical", choices=["a"])}}}, "cfg.py")
    with pytest.raises(ConfigError, match="randomness.seed must be int or None"):
        check_against_config(spec, "tiny-sweep", [])


def test_trial_options_round_trip_through_cfg_options():
    spec = spec_of(max_epochs=3)
    opts = spec.trial_options({LR: 1e-05, SEED: 2})
    assert opts == [f"{LR}=1e-05", f"{SEED}=2", "train_cfg.max_epochs=3"]
    cfg = load_config("tiny-sweep", opts)
    assert cfg.optim_wrapper.optimizer.lr == 1e-05 and cfg.randomness.seed == 2 and cfg.train_cfg.max_epochs == 3
    assert [option_text(v) for v in (None, True, 0.1, "SGD")] == ["None", "true", "0.1", "SGD"]
