"""``mlpose zoo check``: each file loads, builds, runs forward, trains one iteration; one line per failure."""
import pytest

from mlpose.config import resolve_config_path
from mlpose.errors import ConfigError
from mlpose.zoo import check_config, expand_configs, run_check

TINY = resolve_config_path("tiny").resolve()
RES50_AIC = resolve_config_path("res50-coco-aic").resolve()


def small(backbone: str = "", head: str = "in_channels=64, deconv_out_channels=(16, 16, 8, 8)") -> str:
    """The tiny recipe at width 8 (one ``model = ...`` line: a second one would replace it)."""
    return f"_base_ = ['{TINY}']\nmodel = dict(backbone=dict(base_channels=8, {backbone}), head=dict({head}))\n"


def _file(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_files_folders_globs_and_short_names(tmp_path):
    a = _file(tmp_path, "zoo/a.py", "")
    b = _file(tmp_path, "zoo/deep/b.py", "")
    _file(tmp_path, "zoo/_base_/runtime.py", "")
    _file(tmp_path, "zoo/notes.txt", "")
    assert expand_configs([str(tmp_path / "zoo"), str(tmp_path / "zoo" / "*.py"), "tiny"]) == [a, b, TINY]
    with pytest.raises(ConfigError, match=r"'.*nothing\*\.py' matches no config file"):
        expand_configs([str(tmp_path / "nothing*.py")])


def test_a_small_model_passes_every_stage_but_training_unless_asked(tmp_path):
    # MMPose's configs start from pretrained weights: the check builds without them (nothing downloads)
    path = _file(tmp_path, "small.py", small("init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')"))
    result = check_config(path)
    assert (result.loads, result.builds, result.forward, result.trains) == (True, True, True, None)
    assert result.ok and result.family == "ResNet" and 0 < result.params < 1e6


@pytest.mark.parametrize("text, stage, error", [
    (small("type='mmpretrain.VisionTransformer2'"), "loads",
     "unknown type 'mmpretrain.VisionTransformer2' at model.backbone in registry 'models'."),
    (small(head="in_channels=64, deconv_out_channels=(16,), deconv_kernel_sizes=(4, 4)"), "builds",
     "HeatmapHead: deconv_out_channels (16,) and deconv_kernel_sizes (4, 4) must have the same length"),
    (small(head="in_channels=65, deconv_out_channels=(16, 16, 8, 8)"), "forward", "RuntimeError: "),
])
def test_each_failure_is_its_stage_and_its_first_line(tmp_path, text, stage, error):
    path = _file(tmp_path, "bad.py", text)
    result = check_config(path)
    assert getattr(result, stage) is False and not result.ok
    assert result.error.startswith(error) and "\n" not in result.error and "Known types" not in result.error
    assert str(path) not in result.error  # the row names the file
    if stage == "loads":
        assert result.family == "VisionTransformer2"  # read without validation: the family is still shown


def test_a_line_number_stays_and_the_file_name_goes(tmp_path):
    path = _file(tmp_path, "broken.py", "model = dict(\n")
    result = check_config(path)
    assert result.loads is False and result.family == "?"
    assert result.error.startswith("line 1: syntax error: ")


def test_train_one_iteration_on_generated_data(tmp_path, tiny_data):
    """The end-to-end test: the COCO+AIC recipe (combined datasets, two metrics) made small, and a
    file that fails, through the command's table, failure lines and exit code."""
    small = _file(tmp_path, "res50-coco-aic-small.py", f"_base_ = ['{RES50_AIC}']\n"
                  "model = dict(backbone=dict(base_channels=8), head=dict(in_channels=256, "
                  "deconv_out_channels=(16, 16, 16)))\n")
    bad = _file(tmp_path, "nosuch.py", f"_base_ = ['{TINY}']\nmodel = dict(backbone=dict(_delete_=True, type='NoSuchNet'))\n")
    out = []
    code = run_check([str(small), str(bad)], train=True, data=str(tiny_data), echo=out.append)
    assert code == 1
    assert out[0].split() == ["file", "family", "loads?", "builds?", "forward?", "trains?", "params", "(M)"]
    assert out[2].split()[:6] == ["res50-coco-aic-small.py", "ResNet", "yes", "yes", "yes", "yes"]
    assert out[3].split()[:6] == ["nosuch.py", "NoSuchNet", "NO", "-", "-", "-"]
    assert out[4] == "nosuch.py: unknown type 'NoSuchNet' at model.backbone in registry 'models'."
    assert out[5] == "1 of 2 files load, build, run forward and train one iteration"
