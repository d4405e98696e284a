"""Loading pretrained weights from local torchvision / MMPose / plain checkpoint files."""
import datetime

import pytest
import torch

from mlpose.errors import ConfigError
from mlpose.models import HeatmapHead, ResNet
from mlpose.registry import MODELS, build

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_resnet_keys(stage_blocks, bottleneck):
    """The state-dict keys of torchvision's ``resnetN`` written out from its layout."""
    keys = ["conv1.weight"] + [f"bn1.{p}" for p in BN]
    convs = 3 if bottleneck else 2
    for i, n in enumerate(stage_blocks, start=1):
        for j in range(n):
            pre = f"layer{i}.{j}."
            for c in range(1, convs + 1):
                keys += [f"{pre}conv{c}.weight"] + [f"{pre}bn{c}.{p}" for p in BN]
            if j == 0 and (i > 1 or bottleneck):
                keys += [f"{pre}downsample.0.weight"] + [f"{pre}downsample.1.{p}" for p in BN]
    return keys + ["fc.weight", "fc.bias"]


def randomised(model):
    """Copy of ``model``'s state dict with every float tensor replaced by random values."""
    return {k: torch.randn_like(v) if v.is_floating_point() else v + 3 for k, v in model.state_dict().items()}


def assert_loaded(model, state):
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


@pytest.mark.parametrize("depth, blocks, bottleneck", [(18, (2, 2, 2, 2), False), (50, (3, 4, 6, 3), True)])
def test_module_names_are_torchvision_names(depth, blocks, bottleneck):
    own = set(ResNet(depth, base_channels=8).state_dict())
    assert own | {"fc.weight", "fc.bias"} == set(torchvision_resnet_keys(blocks, bottleneck))


@pytest.mark.parametrize("drop_counters", [False, True])
def test_loads_torchvision_state_dict_and_drops_fc(tmp_path, drop_counters):
    src = randomised(ResNet(18, base_channels=8))
    if drop_counters:  # torchvision's original resnet files predate num_batches_tracked
        src = {k: v for k, v in src.items() if not k.endswith("num_batches_tracked")}
    tv = dict(src, **{"fc.weight": torch.randn(1000, 64), "fc.bias": torch.randn(1000)})
    assert set(tv) <= set(torchvision_resnet_keys((2, 2, 2, 2), False))
    path = tmp_path / "resnet18-tv.pth"
    torch.save(tv, path)
    model = ResNet(18, base_channels=8, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    model.init_weights()
    for k, v in src.items():
        assert torch.equal(model.state_dict()[k], v), k


def pose_checkpoint(tmp_path, nesting="state_dict"):
    est = build(
        dict(type="TopdownPoseEstimator",
             backbone=dict(type="ResNet", depth=18, base_channels=8),
             head=dict(type="HeatmapHead", in_channels=64, out_channels=5, deconv_out_channels=(8,),
                       deconv_kernel_sizes=(4,))),
        MODELS, "model")
    state = randomised(est)
    path = tmp_path / "pose.pth"
    # MMEngine checkpoints carry python objects beside the weights.
    torch.save({"meta": {"time": datetime.datetime(2022, 9, 23)}, nesting: state}, path)
    return path, state


@pytest.mark.parametrize("nesting", ["state_dict", "model"])
def test_loads_backbone_from_mmpose_style_checkpoint(tmp_path, nesting):
    path, state = pose_checkpoint(tmp_path, nesting)
    model = ResNet(18, base_channels=8, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    model.init_weights()
    assert_loaded(model, {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")})


def test_estimator_init_cfg_loads_the_whole_model(tmp_path):
    path, state = pose_checkpoint(tmp_path)
    est = build(
        dict(type="TopdownPoseEstimator",
             backbone=dict(type="ResNet", depth=18, base_channels=8),
             head=dict(type="HeatmapHead", in_channels=64, out_channels=5, deconv_out_channels=(8,),
                       deconv_kernel_sizes=(4,)),
             init_cfg=dict(type="Pretrained", checkpoint=str(path))),
        MODELS, "model")
    est.init_weights()
    assert_loaded(est, state)


def test_explicit_prefix_selects_keys(tmp_path):
    path, state = pose_checkpoint(tmp_path)
    head = HeatmapHead(64, 5, deconv_out_channels=(8,), deconv_kernel_sizes=(4,),
                       init_cfg=dict(type="Pretrained", checkpoint=str(path), prefix="head."))
    head.init_weights()
    assert_loaded(head, {k[len("head."):]: v for k, v in state.items() if k.startswith("head.")})
    bad = ResNet(18, base_channels=8, init_cfg=dict(type="Pretrained", checkpoint=str(path), prefix="neck."))
    with pytest.raises(ConfigError, match="prefix='neck.'"):
        bad.init_weights()


def test_shape_mismatch_names_key_and_file(tmp_path):
    path = tmp_path / "r18-w8.pth"
    torch.save(ResNet(18, base_channels=8).state_dict(), path)
    model = ResNet(18, base_channels=16, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    with pytest.raises(ConfigError, match=r"r18-w8\.pth.*shape mismatch: conv1\.weight"):
        model.init_weights()


def test_missing_and_unexpected_keys_are_named(tmp_path):
    state = ResNet(18, base_channels=8).state_dict()
    del state["layer4.1.bn2.running_var"]
    state["layer5.0.conv1.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    model = ResNet(18, base_channels=8, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    with pytest.raises(ConfigError) as err:
        model.init_weights()
    msg = str(err.value)
    assert "missing keys: layer4.1.bn2.running_var" in msg
    assert "unexpected keys: layer5.0.conv1.weight" in msg
    assert "broken.pth" in msg


def test_depth_mismatch_lists_a_few_keys_only(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(ResNet(18, base_channels=8).state_dict(), path)
    model = ResNet(34, base_channels=8, init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    with pytest.raises(ConfigError, match=r"missing keys: layer1\.2\.conv1\.weight.*\(\+\d+ more\)"):
        model.init_weights()


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """torch's checkpoint cache in the test's folder and no network: any download fails."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("MLPOSE_HUB_MIRROR", f"http://127.0.0.1:{port}")
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    return cache


def test_a_model_zoo_name_is_checked_at_build_and_read_only_by_init_weights(offline_hub):
    init = dict(type="Pretrained", checkpoint="torchvision://resnet18")
    model = ResNet(18, base_channels=8, init_cfg=init)  # nothing is fetched to build it (test, infer, export)
    with pytest.raises(ConfigError, match=r"resnet18 .*cannot be downloaded.*put it at .*resnet18-f37072fd\.pth$"):
        model.init_weights()
    src = randomised(ResNet(18, base_channels=8))
    torch.save({**src, "fc.weight": torch.randn(1000, 64), "fc.bias": torch.randn(1000)},
               offline_hub / "resnet18-f37072fd.pth")  # put there by hand: used offline
    model.init_weights()
    assert_loaded(model, src)


@pytest.mark.parametrize("checkpoint, match", [
    ("torchvision://resnet5", r"ResNet.init_cfg.checkpoint: 'torchvision://resnet5' is not a name .*resnet50"),
    ("s3://bucket/r50.pth", r"ResNet.init_cfg.checkpoint='s3://bucket/r50.pth': the scheme is not one"),
    ("https://download.openmmlab.com/", "not a URL of a file")])
def test_bad_references_fail_at_build_time(checkpoint, match):
    with pytest.raises(ConfigError, match=match):
        build(dict(type="ResNet", depth=50, init_cfg=dict(type="Pretrained", checkpoint=checkpoint)),
              MODELS, "model.backbone")


def test_mmcls_files_give_their_backbone_weights(offline_hub):
    src = randomised(ResNet(18, base_channels=8))
    torch.save({"meta": {}, "state_dict": {**{f"backbone.{k}": v for k, v in src.items()},
                                           "head.fc.weight": torch.randn(1000, 64)}},
               offline_hub / "resnet18_8xb32_in1k_20210831-fbbb1da6.pth")
    head = HeatmapHead(64, 5, deconv_out_channels=(8,), deconv_kernel_sizes=(4,),
                       init_cfg=dict(type="Pretrained", checkpoint="mmcls://resnet18", prefix="backbone"))
    with pytest.raises(ConfigError, match="no key starts with init_cfg.prefix='backbone'"):
        head.init_weights()  # as MMEngine: only the classifier's backbone reaches the module, unprefixed
    model = ResNet(18, base_channels=8, init_cfg=dict(type="Pretrained", checkpoint="mmcls://resnet18"))
    model.init_weights()
    assert_loaded(model, src)


def test_keys_the_module_lacks_are_skipped_with_a_warning(tmp_path, caplog):
    src = randomised(ResNet(18, base_channels=8))
    torch.save({**src, "classifier.weight": torch.zeros(3)}, tmp_path / "imagenet.pth")
    model = ResNet(18, base_channels=8, init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "imagenet.pth")))
    model.init_weights()
    assert_loaded(model, src)
    assert "1 keys that ResNet does not have were skipped (classifier.weight)" in caplog.text


def test_mmengine_initialisers_then_pretrained_weights(tmp_path):
    model = ResNet(18, base_channels=8, init_cfg=[
        dict(type="Constant", layer="_BatchNorm", val=2, bias=0.5),
        dict(type="Normal", layer=["Conv2d"], std=0.001)])
    model.init_weights()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.all(m.weight == 2) and torch.all(m.bias == 0.5) for m in norms)
    assert 0.0005 < float(model.conv1.weight.detach().std()) < 0.002
    path, state = pose_checkpoint(tmp_path)
    model = ResNet(18, base_channels=8, init_cfg=[dict(type="Pretrained", checkpoint=str(path), prefix="backbone"),
                                                  dict(type="Constant", layer="Conv2d", val=0)])
    model.init_weights()  # as MMEngine: the initialisers first, the pretrained weights last
    assert_loaded(model, {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")})


@pytest.mark.parametrize("entry, match", [
    (dict(type="Kaiming"), r"ResNet.init_cfg\[0\].layer=None: name the module classes"),
    (dict(type="Kaiming", layer="Conv2d", a=1, foo=2), r"unknown keys \['foo'\] for type='Kaiming'"),
    (dict(type="Normal", layer="Conv2d", override=dict(name="conv1")), "override: initialising named submodules"),
    (dict(type="Xavier", layer="Conv2d", distribution="cauchy"), "distribution='cauchy': use 'normal' or 'uniform'"),
    (dict(type="Kaiming", layer="Conv2d", mode="fan_up"), "mode='fan_up': use 'fan_in' or 'fan_out'"),
    (dict(type="Caffe2Xavier", layer="Conv2d"), "expected dict.*Pretrained, Kaiming, Xavier"),
])
def test_bad_initialisers_fail_at_build_time(entry, match):
    with pytest.raises(ConfigError, match=match):
        ResNet(18, base_channels=8, init_cfg=[entry])


def test_missing_file_is_a_config_error(tmp_path):
    model = ResNet(18, base_channels=8, init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "no.pth")))
    with pytest.raises(ConfigError, match="no.pth' does not exist"):
        model.init_weights()
