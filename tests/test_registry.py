"""The registry: build(), its errors, and custom_imports registering user components."""
import logging
import sys
import textwrap

import pytest

from mlpose.config import load_config
from mlpose import registry as R
from mlpose.errors import ConfigError
from mlpose.registry import METRICS, MODELS, Registry, build, import_custom

LAYER_DECAY = "mmpose.engine.optim_wrappers.layer_decay_optim_wrapper"


def test_build_creates_objects_and_keeps_the_config():
    reg = Registry("things")

    @reg.register()
    class Thing:
        def __init__(self, size, colour="red"):
            self.size, self.colour = size, colour

    cfg = dict(type="Thing", size=3)
    thing = build(cfg, reg, "model.thing")
    assert (thing.size, thing.colour) == (3, "red") and cfg == dict(type="Thing", size=3)
    with pytest.raises(KeyError, match="already registered"):
        reg.register("Thing")(type("Other", (), {}))


def test_unknown_type_names_registry_path_and_known_types():
    with pytest.raises(ConfigError) as err:
        build(dict(type="ResNett", depth=50), MODELS, "model.backbone")
    msg = str(err.value)
    assert "'ResNett'" in msg and "model.backbone" in msg and "registry 'models'" in msg
    assert "Did you mean ResNet" in msg and "HeatmapHead" in msg


def test_wrong_argument_names_the_key_path():
    with pytest.raises(ConfigError, match=r"model\.backbone: bad arguments for ResNet: unexpected .depht. \(did you mean .depth.\?\)"):
        build(dict(type="ResNet", depht=50), MODELS, "model.backbone")


def test_custom_imports_register_a_user_metric(tmp_path, monkeypatch):
    pkg = tmp_path / "my_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "my_metric.py").write_text(textwrap.dedent("""
        from mlpose.registry import METRICS

        @METRICS.register()
        class CountMetric:
            def __init__(self, prefix='count'):
                self.prefix = prefix
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg_file = tmp_path / "c.py"
    cfg_file.write_text("custom_imports = dict(imports=['my_pkg.my_metric'])\n"
                        "val_evaluator = dict(type='CountMetric', prefix='n')\n")
    cfg = load_config(cfg_file)  # validation imports the module, so the type is known
    assert build(cfg.val_evaluator, METRICS, "val_evaluator").prefix == "n"
    sys.modules.pop("my_pkg.my_metric", None)


def test_custom_import_failure_is_one_line_or_a_warning_when_allowed(caplog):
    with pytest.raises(ConfigError, match="custom_imports cannot import 'no_such_module_xyz'"):
        import_custom(dict(imports=["no_such_module_xyz"]))
    with caplog.at_level(logging.WARNING, logger="mlpose"):
        import_custom(dict(imports=["no_such_module_xyz"], allow_failed_imports=True))
    assert "cannot import 'no_such_module_xyz'" in caplog.text and "allow_failed_imports=True" in caplog.text


def test_mmpose_module_mlpose_implements_is_not_imported_even_when_installed(tmp_path, monkeypatch, caplog):
    fake = tmp_path / "mmpose" / "engine" / "optim_wrappers"
    fake.mkdir(parents=True)
    for folder in (fake, fake.parent, fake.parent.parent):
        (folder / "__init__.py").write_text("raise RuntimeError('MMPose was imported')\n")
    (fake / "layer_decay_optim_wrapper.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(R, "_reported_built_ins", set())
    with caplog.at_level(logging.INFO, logger="mlpose"):
        import_custom(dict(imports=[LAYER_DECAY], allow_failed_imports=False), "vitpose.py")
        import_custom(dict(imports=[LAYER_DECAY]), "vitpose.py")
    assert "mmpose" not in sys.modules
    said = [r.getMessage() for r in caplog.records if LAYER_DECAY in r.getMessage()]
    assert len(said) == 1 and "built into mlpose" in said[0] and "LayerDecayOptimWrapperConstructor" in said[0]


def test_other_openmmlab_modules_are_refused_as_they_would_register_elsewhere(caplog):
    with pytest.raises(ConfigError, match="'mmpose.engine.hooks.ema_hook', an OpenMMLab module mlpose does not "
                                          "implement") as err:
        import_custom(dict(imports=["mmpose.engine.hooks.ema_hook"]), "cfg.py")
    assert str(err.value).startswith("cfg.py: ") and "\n" not in str(err.value)
    with caplog.at_level(logging.WARNING, logger="mlpose"):
        import_custom(dict(imports=["mmdet.models"], allow_failed_imports=True))
    assert "mmdet.models" in caplog.text


def test_openmmlab_scoped_names_resolve_to_the_bare_component():
    assert MODELS.get("mmpose.ResNet") is MODELS.get("ResNet")
    with pytest.raises(ConfigError, match="unknown type 'mmfoo.ResNet'"):
        MODELS.get("mmfoo.ResNet")
    with pytest.raises(ConfigError, match="unknown type 'mmdet.NoSuchNet'"):
        MODELS.get("mmdet.NoSuchNet")


def test_a_dicts_scope_key_is_accepted_as_mmengine_writes_it():
    backbone = build(dict(_scope_="mmdet", type="ResNet", depth=18, base_channels=8), MODELS, "model.backbone")
    assert backbone.depth == 18


def test_a_component_validate_args_hook_runs_at_build_with_the_path():
    reg = Registry("things")

    @reg.register()
    class Lister:
        def __init__(self, items):
            self.items = items

        @staticmethod
        def validate_args(kwargs, path):
            for i, item in enumerate(kwargs["items"]):
                if item < 0:
                    raise ConfigError(f"{path}.items.{i}: expected >= 0, got {item}")

    assert build(dict(type="Lister", items=[1, 2]), reg, "x").items == [1, 2]
    with pytest.raises(ConfigError, match=r"^pipeline\.3\.items\.1: expected >= 0, got -2$"):
        build(dict(type="Lister", items=[1, -2]), reg, "pipeline.3")
