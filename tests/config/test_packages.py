"""``_base_ = ['mmpose::PATH']``: the installed package's config file, found without importing the
package (a stand-in ``mmpose`` folder on sys.path plays the installed MMPose here)."""
import sys
import textwrap

import pytest

from mlpose.config import load_config, resolve_config_path
from mlpose.config.packages import package_configs
from mlpose.errors import ConfigError

TINY = resolve_config_path("tiny").resolve()


@pytest.fixture
def fake_mmpose(tmp_path, monkeypatch):
    """A package folder named mmpose whose import would fail, with one config under .mim/configs."""
    site = tmp_path / "site"
    configs = site / "mmpose" / ".mim" / "configs"
    (configs / "body_2d_keypoint").mkdir(parents=True)
    (site / "mmpose" / "__init__.py").write_text("raise ImportError('mlpose must not import mmpose')\n")
    (configs / "_base_").mkdir()
    (configs / "_base_" / "runtime.py").write_text("package_note = 'from the package'\n")
    (configs / "body_2d_keypoint" / "recipe.py").write_text(textwrap.dedent(f"""
        _base_ = ['{TINY}', '../_base_/runtime.py']
        optim_wrapper = dict(optimizer=dict(lr=1e-3))
        default_scope = 'mmpose'
    """))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "mmpose", raising=False)
    return configs


def test_a_package_scoped_base_is_the_installed_file(tmp_path, fake_mmpose):
    user = tmp_path / "mine.py"
    user.write_text("_base_ = ['mmpose::body_2d_keypoint/recipe.py']\ntrain_cfg = dict(val_interval=7)\n")
    cfg = load_config(user)
    assert cfg.package_note == "from the package" and cfg.train_cfg.val_interval == 7  # and the package's own bases
    assert cfg.optim_wrapper.optimizer.lr == 1e-3 and cfg.default_scope == "mmpose"
    assert "mmpose" not in sys.modules  # located, never imported
    assert package_configs("mmpose") == fake_mmpose


def test_a_missing_file_of_the_installed_package_is_named(tmp_path, fake_mmpose):
    user = tmp_path / "mine.py"
    user.write_text("_base_ = ['mmpose::body_2d_keypoint/nothing.py']\n")
    with pytest.raises(ConfigError, match=r"mine\.py: _base_ 'mmpose::body_2d_keypoint/nothing\.py': "
                                          r".*\.mim/configs/body_2d_keypoint/nothing\.py does not exist"):
        load_config(user)


def test_without_the_package_the_base_is_one_line(tmp_path):
    user = tmp_path / "mine.py"
    user.write_text("_base_ = ['mmnotinstalled::_base_/default_runtime.py']\n")
    with pytest.raises(ConfigError) as info:
        load_config(user)
    assert str(info.value) == (
        f"{user}: _base_ 'mmnotinstalled::_base_/default_runtime.py' names a config file of the mmnotinstalled "
        "package, which is not installed here; install mmnotinstalled (pip install mmnotinstalled), or copy the "
        "file next to the config and name it by its path")
