import torch
import torch.distributed as tdist
from torch import nn

from mlpose.runtime.dist import unwrap_model


def test_unwrap_model():
    model = nn.Linear(2, 2)
    assert unwrap_model(model) is model
    assert unwrap_model(nn.DataParallel(model)) is model
    assert unwrap_model(torch.compile(nn.DataParallel(model))) is model
    tdist.init_process_group("gloo", init_method="tcp://127.0.0.1:0", rank=0, world_size=1)
    try:
        assert unwrap_model(torch.compile(nn.parallel.DistributedDataParallel(model))) is model
    finally:
        tdist.destroy_process_group()
