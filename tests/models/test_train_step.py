"""A few optimisation steps of the full estimator for every ResNet depth on a fixed tiny batch."""
import pytest
import torch

from mlpose.registry import MODELS, build

K = 3


@pytest.fixture(autouse=True)
def one_thread():
    # The test machines have 2 shared cores; two spinning OpenMP threads under contention made
    # these steps 50x slower in practice, one thread keeps them at a few seconds.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def gaussian_targets(batch: int, h: int, w: int, sigma: float = 1.5) -> torch.Tensor:
    """(batch, K, h, w) unit-peak Gaussians at fixed, distinct places."""
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    maps = torch.zeros(batch, K, h, w)
    for b in range(batch):
        for k in range(K):
            cx, cy = 3 + 4 * k + b, 4 + 3 * k
            maps[b, k] = torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))
    return maps


@pytest.mark.parametrize("depth, base", [(18, 64), (34, 64), (50, 16), (101, 16), (152, 16)])
def test_loss_is_finite_and_decreases(depth, base):
    torch.manual_seed(0)
    last = 512 * base // 64 if depth < 50 else 2048 * base // 64
    model = build(
        dict(
            type="TopdownPoseEstimator",
            backbone=dict(type="ResNet", depth=depth, base_channels=base),
            head=dict(type="HeatmapHead", in_channels=last, out_channels=K,
                      deconv_out_channels=(32, 32, 32)),
        ),
        MODELS,
        "model",
    ).train()
    inputs = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    targets = gaussian_targets(2, 16, 16)
    weights = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        out = model.loss(inputs, dict(heatmaps=targets, keypoint_weights=weights))
        assert set(out) == {"loss", "loss_kpt", "acc_pose"}
        assert all(v.dim() == 0 for v in out.values())
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0], losses
