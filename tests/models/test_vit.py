"""VisionTransformer backbone: shapes, mmpretrain's parameter layout, attention numerics, position
embeddings fitted on load (MAE 224x224 with a cls token into a 256x192-style model without one),
frozen stages, drop path, and one-line config errors."""
import pytest
import torch
import torch.nn.functional as F

from mlpose.errors import ConfigError
from mlpose.models import VisionTransformer
from mlpose.registry import MODELS, build

TINY = dict(embed_dims=16, num_layers=2, num_heads=2, feedforward_channels=32)


def _vit(**kw):
    args = dict(arch=TINY, img_size=(64, 48), with_cls_token=False, out_type="featmap", patch_cfg=dict(padding=2))
    return VisionTransformer(**{**args, **kw})


def test_scoped_name_builds_the_vitpose_backbone_with_its_patch_grid():
    vit = build(dict(type="mmpretrain.VisionTransformer", arch=TINY, img_size=(256, 192), patch_size=16,
                     with_cls_token=False, out_type="featmap", patch_cfg=dict(padding=2)), MODELS, "backbone")
    assert vit.patch_resolution == (16, 12) and vit.pos_embed.shape == (1, 192, 16)
    (feat,) = vit.eval()(torch.randn(2, 3, 256, 192))
    assert feat.shape == (2, 16, 16, 12)
    assert vit.output_size((192, 256)) == (12, 16)


def test_default_corner_padding_covers_every_pixel():
    vit = VisionTransformer(arch=TINY, img_size=(70, 50), out_type="featmap")  # cls token, adaptive padding
    assert vit.patch_resolution == (5, 4) and vit.pos_embed.shape == (1, 1 + 20, 16)
    assert vit.eval()(torch.randn(1, 3, 70, 50))[0].shape == (1, 16, 5, 4)


def test_out_types_and_indices():
    x = torch.randn(2, 3, 64, 48)
    raw = VisionTransformer(arch=TINY, img_size=(64, 48), out_type="raw", out_indices=(0, -1)).eval()(x)
    assert [tuple(t.shape) for t in raw] == [(2, 13, 16), (2, 13, 16)]  # cls + 4x3 patches (corner padding)
    assert VisionTransformer(arch=TINY, img_size=(64, 48)).eval()(x)[0].shape == (2, 16)  # cls_token
    avg = VisionTransformer(arch=TINY, img_size=(64, 48), out_type="avg_featmap")
    assert "ln2.weight" in avg.state_dict() and avg.eval()(x)[0].shape == (2, 16)


def test_another_input_size_interpolates_the_position_embedding():
    vit = _vit().eval()
    assert vit(torch.randn(1, 3, 96, 64))[0].shape == (1, 16, 6, 4)


def test_parameter_names_are_mmpretrains():
    vit = _vit(pre_norm=True, layer_scale_init_value=0.1, arch=dict(TINY, num_layers=1))
    assert list(vit.state_dict()) == [
        "pos_embed", "patch_embed.projection.weight",  # pre_norm: the patch conv has no bias
        "layers.0.ln1.weight", "layers.0.ln1.bias", "layers.0.attn.qkv.weight", "layers.0.attn.qkv.bias",
        "layers.0.attn.proj.weight", "layers.0.attn.proj.bias", "layers.0.attn.gamma1.weight",
        "layers.0.ln2.weight", "layers.0.ln2.bias", "layers.0.ffn.layers.0.0.weight", "layers.0.ffn.layers.0.0.bias",
        "layers.0.ffn.layers.1.weight", "layers.0.ffn.layers.1.bias", "layers.0.ffn.gamma2.weight",
        "pre_norm.weight", "pre_norm.bias", "ln1.weight", "ln1.bias",
    ]
    assert torch.all(vit.layers[0].attn.gamma1.weight == 0.1)


@pytest.mark.parametrize("arch,params", [("base", 85_794_048), ("large", 303_295_488)])
def test_arch_sizes_match_the_vitpose_backbones(arch, params):
    """ViTPose-B/L backbones at 256x192 (patch 16, padding 2), counted on MMPose's models."""
    with torch.device("meta"):
        vit = VisionTransformer(arch=arch, img_size=(256, 192), with_cls_token=False, out_type="featmap",
                                patch_cfg=dict(padding=2))
    assert sum(p.numel() for p in vit.parameters()) == params
    assert vit.layers[0].ln1.eps == 1e-6  # mmpretrain's default norm_cfg


def test_attention_equals_softmax_of_scaled_dot_products():
    """qkv rows are [q; k; v], each split into heads: the layout MAE/ViTPose checkpoints use."""
    attn = _vit().layers[0].attn.eval()
    x = torch.randn(2, 5, 16)
    q, k, v = F.linear(x, attn.qkv.weight, attn.qkv.bias).split(16, dim=-1)
    heads = [torch.softmax(q[..., h:h + 8] @ k[..., h:h + 8].transpose(1, 2) / 8 ** 0.5, -1) @ v[..., h:h + 8]
             for h in (0, 8)]
    expected = F.linear(torch.cat(heads, -1), attn.proj.weight, attn.proj.bias)
    torch.testing.assert_close(attn(x), expected, atol=1e-5, rtol=1e-5)


def _mae_state(grid: int, dims: int = 16) -> dict:
    """A bare-backbone checkpoint of a square ``grid`` with a class token (as MAE's at 224x224)."""
    mae = VisionTransformer(arch=dict(TINY, embed_dims=dims), img_size=16 * grid, out_type="featmap")
    state = mae.state_dict()
    state["pos_embed"] = torch.randn_like(state["pos_embed"])
    return state


def _resized(rows: torch.Tensor, src, dst) -> torch.Tensor:
    grid = rows.reshape(1, *src, -1).permute(0, 3, 1, 2)
    return F.interpolate(grid, size=dst, mode="bicubic", align_corners=False).flatten(2).transpose(1, 2)


def test_mae_checkpoint_with_cls_token_loads_into_a_model_without_one(tmp_path):
    state = _mae_state(grid=7)  # 1 + 7 * 7 rows and a cls_token
    path = tmp_path / "mae.pth"
    torch.save(state, path)
    vit = _vit(init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    vit.init_weights()
    torch.testing.assert_close(vit.pos_embed.data, _resized(state["pos_embed"][:, 1:], (7, 7), (4, 3)))
    assert torch.equal(vit.layers[1].ffn.layers[1].weight, state["layers.1.ffn.layers.1.weight"])
    again = _vit()  # torch's load_state_dict takes the same route (the pre-hook), as in mmpretrain
    again.load_state_dict(state)
    assert torch.equal(again.pos_embed, vit.pos_embed)


def test_pose_checkpoint_with_one_extra_row_drops_it_and_other_grids_keep_the_aspect_ratio():
    small = _vit(img_size=(64, 48))  # a 4x3 patch grid
    state = {k: v.clone() for k, v in small.state_dict().items()}
    state["pos_embed"] = torch.cat([torch.randn(1, 1, 16), state["pos_embed"]], dim=1)  # 1 + 4 * 3 rows
    fresh = _vit()
    fresh.load_state_dict(state)
    assert torch.equal(fresh.pos_embed, small.pos_embed)
    tall = _vit(img_size=(128, 96))  # an 8x6 grid from the 4x3 one
    tall.load_state_dict(small.state_dict())
    torch.testing.assert_close(tall.pos_embed.data, _resized(small.pos_embed.data, (4, 3), (8, 6)))


def test_model_with_cls_token_keeps_its_row_and_resizes_the_grid():
    state = _mae_state(grid=7)
    vit = VisionTransformer(arch=TINY, img_size=(64, 48), out_type="featmap", patch_cfg=dict(padding=2))
    vit.load_state_dict(state)
    assert torch.equal(vit.pos_embed[:, :1], state["pos_embed"][:, :1])
    torch.testing.assert_close(vit.pos_embed[:, 1:].data, _resized(state["pos_embed"][:, 1:], (7, 7), (4, 3)))


def test_position_embedding_on_no_grid_is_one_line(tmp_path):
    state = _vit().state_dict()
    state["pos_embed"] = torch.randn(1, 11, 16)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"pos_embed of shape \(1, 11, 16\) fits no patch grid"):
        _vit(init_cfg=dict(type="Pretrained", checkpoint=str(path))).init_weights()


def test_url_checkpoint_is_accepted_at_build_and_only_fetched_by_init_weights():
    vit = _vit(init_cfg=dict(type="Pretrained", checkpoint="https://example.invalid/mae.pth"))
    assert vit.init_cfg["checkpoint"].startswith("https://")
    with pytest.raises(ConfigError, match="example.invalid/mae.pth"):  # nothing is downloaded in tests
        vit.init_weights()


def test_frozen_stages_stop_gradients_and_stay_in_eval_mode():
    vit = _vit(frozen_stages=1, drop_path_rate=0.5).train()
    frozen = [n for n, p in vit.named_parameters() if not p.requires_grad]
    assert frozen == ["pos_embed", "patch_embed.projection.weight", "patch_embed.projection.bias",
                      *[n for n, _ in vit.named_parameters() if n.startswith("layers.0.")]]
    assert not vit.layers[0].training and vit.layers[1].training and not vit.patch_embed.training
    vit(torch.randn(2, 3, 64, 48))[0].sum().backward()
    assert vit.layers[0].attn.qkv.weight.grad is None and vit.layers[1].attn.qkv.weight.grad is not None
    everything = _vit(frozen_stages=2)
    assert not any(p.requires_grad for p in everything.parameters())


def test_drop_path_is_random_in_training_and_off_in_eval():
    torch.manual_seed(0)
    vit, x = _vit(drop_path_rate=0.9), torch.randn(4, 3, 64, 48)
    with torch.no_grad():
        assert not torch.equal(vit.train()(x)[0], vit(x)[0])
        assert torch.equal(vit.eval()(x)[0], vit(x)[0])
    assert [layer.attn.out_drop.drop_prob for layer in vit.layers] == [0.0, 0.9]


@pytest.mark.parametrize("kwargs,message", [
    (dict(arch="gigantic"), "arch='gigantic' is unknown"),
    (dict(arch=dict(embed_dims=16, num_layers=2)), "a custom arch is a dict"),
    (dict(arch=dict(TINY, num_heads=3)), "not divisible by num_heads=3"),
    (dict(out_type="tokens"), "out_type='tokens'"),
    (dict(out_type="cls_token"), "needs with_cls_token=True"),
    (dict(frozen_stages=3), "frozen_stages=3 must be in -1..2"),
    (dict(out_indices=(2,)), r"out_indices=\(2,\)"),
    (dict(layer_cfgs=dict(ffn_type="swiglu_fused")), "layer_cfgs"),
    (dict(patch_cfg=dict(padding=2, kernel_size=8)), "only 'padding'"),
    (dict(patch_cfg=dict(padding="valid")), "padding='valid'"),
    (dict(norm_cfg=dict(type="BN")), "only dict\\(type='LN'"),
    (dict(img_size=(64,)), "img_size"),
    (dict(init_cfg=dict(type="Kaiming")), "init_cfg"),
    (dict(with_cls_token="***"), "with_cls_token='\\*\\*\\*' must be True or False"),
])
def test_bad_arguments_are_one_line_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message) as err:
        _vit(**kwargs)
    assert "\n" not in str(err.value)


def test_output_size_refuses_vectors_for_a_heatmap_head():
    with pytest.raises(ConfigError, match="out_type='featmap'"):
        VisionTransformer(arch=TINY, img_size=(64, 48)).output_size((48, 64))
