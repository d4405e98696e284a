"""RTMCCBlock (GAU), ScaleNorm, Scale, rope, DropPath: shapes, formulas, parameter layout."""
import math

import pytest
import torch

from mlpose.errors import ConfigError
from mlpose.models.heads.rtmcc_block import DropPath, RTMCCBlock, Scale, ScaleNorm, rope


def test_scale_norm_by_hand():
    x = torch.tensor([[3.0, 4.0]])  # ||x|| = 5, / sqrt(2)
    out = ScaleNorm(2)(x)
    assert torch.allclose(out, x / (5 / math.sqrt(2)))
    assert torch.equal(ScaleNorm(2, eps=1.0)(torch.zeros(1, 2)), torch.zeros(1, 2))  # clamped, no 0/0
    assert torch.equal(Scale(3, init_value=2.0)(torch.ones(3)), torch.full((3,), 2.0))


def test_gau_shapes_and_mmpose_parameter_layout():
    block = RTMCCBlock(17, 32, 32, s=16, expansion_factor=2, use_rel_bias=True)
    out = block(torch.randn(2, 17, 32))
    assert out.shape == (2, 17, 32)
    shapes = {k: tuple(v.shape) for k, v in block.state_dict().items()}
    assert shapes == {"w": (33,), "o.weight": (32, 64), "uv.weight": (2 * 64 + 16, 32), "gamma": (2, 16),
                      "beta": (2, 16), "ln.g": (1,), "res_scale.scale": (32,)}
    narrow = RTMCCBlock(17, 32, 8, s=16, use_rel_bias=False)  # no shortcut when widths differ
    assert narrow(torch.randn(2, 17, 32)).shape == (2, 17, 8) and "res_scale.scale" not in narrow.state_dict()


def test_gau_equals_its_formula():
    torch.manual_seed(0)
    block = RTMCCBlock(5, 8, 8, s=4, expansion_factor=1, act_fn="ReLU", use_rel_bias=True)
    x = torch.randn(3, 5, 8)
    h = x / (x.norm(dim=-1, keepdim=True) / math.sqrt(8)) * block.ln.g
    u, v, base = torch.relu(h @ block.uv.weight.T).split([8, 8, 4], dim=-1)
    q = base * block.gamma[0] + block.beta[0]
    k = base * block.gamma[1] + block.beta[1]
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    attn = torch.relu((q @ k.transpose(1, 2) + block.w[j - i + 4]) / 2.0) ** 2
    expected = x * block.res_scale.scale + (u * (attn @ v)) @ block.o.weight.T
    assert torch.allclose(block(x), expected, atol=1e-5)


def test_rope_rotates_pairs_keeping_norms_and_position_zero():
    x = torch.randn(2, 6, 2, 8)
    out = rope(x, dim=1)
    assert out.shape == x.shape
    assert torch.allclose(out.norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    assert torch.allclose(out[:, 0], x[:, 0])  # angle 0 at position 0
    block = RTMCCBlock(6, 8, 8, s=4, pos_enc=True)
    assert block(torch.randn(1, 6, 8)).shape == (1, 6, 8)


def test_drop_path_and_dropout_only_while_training():
    torch.manual_seed(0)
    x = torch.ones(1000, 3)
    dropped = DropPath(0.25).train()(x)
    kept = dropped[:, 0] != 0
    assert 0.65 < kept.float().mean() < 0.85 and torch.allclose(dropped[kept], torch.full_like(dropped[kept], 4 / 3))
    assert torch.equal(DropPath(0.25).eval()(x), x)
    block = RTMCCBlock(4, 8, 8, s=4, dropout_rate=0.5, drop_path=0.5).eval()
    y = torch.randn(2, 4, 8)
    assert torch.equal(block(y), block(y))


@pytest.mark.parametrize("bad", [dict(act_fn="GELU"), dict(pos_enc="add"), dict(dropout_rate=1.0)])
def test_bad_arguments_raise_config_error(bad):
    with pytest.raises(ConfigError):
        RTMCCBlock(4, 8, 8, **bad)
