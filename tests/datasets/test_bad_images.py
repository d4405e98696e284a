"""A bad image file is one line naming it and its ids, with or without DataLoader workers;
``data_cfg.skip_bad_images`` trains on without it, counting it once."""
import logging
import shutil

import pytest

from mlpose.config import load_config
from mlpose.datasets import pose_collate
from mlpose.datasets.loader import build_dataloader
from mlpose.errors import DataError

BAD = {"empty": b"", "not an image": b"this is not a picture\n" * 20}


@pytest.fixture
def data(synth_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    return root


def _loader(root, workers, skip=False):
    cfg = load_config("tiny", [f"train_dataloader.dataset.data_root={root}", "train_dataloader.batch_size=2"])
    return _build(cfg, workers, skip)


def _build(cfg, workers, skip):
    cfg.train_dataloader.num_workers = workers
    cfg.train_dataloader.persistent_workers = False
    return build_dataloader(cfg.train_dataloader, "train_dataloader", seed=0, rank=0, world_size=1, train=True,
                            collate_fn=pose_collate, skip_bad_images=skip)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("kind", ["empty", "not an image", "missing"])
def test_a_bad_image_is_one_line_naming_file_and_ids(data, workers, kind):
    image = data / "images/train/000000000001.jpg"
    if kind == "missing":
        image.unlink()
    else:
        image.write_bytes(BAD[kind])
    loader = _loader(data, workers)
    loader.sampler.set_epoch(0)
    with pytest.raises(DataError) as err:
        for _ in loader:
            pass
    line = str(err.value)
    assert "\n" not in line and "Traceback" not in line and "worker" not in line
    assert line.startswith(str(image)) and "image id 1" in line and "annotation id" in line
    assert {"empty": "0 bytes", "not an image": "not a decodable image", "missing": "cannot read"}[kind] in line
    assert "data_cfg.skip_bad_images=True" in line


@pytest.mark.parametrize("workers", [0, 2])
def test_skip_bad_images_trains_on_and_counts_each_file_once(data, workers, caplog):
    image = data / "images/train/000000000002.jpg"
    image.write_bytes(b"")
    loader = _loader(data, workers, skip=True)
    sizes = []
    log = logging.getLogger("mlpose")
    extra = [] if log.propagate else [caplog.handler]  # after setup_logger it does not propagate
    for handler in extra:
        log.addHandler(handler)
    try:
        for epoch in range(2):
            loader.sampler.set_epoch(epoch)
            sizes += [len(batch["meta"]) for batch in loader]
    finally:
        for handler in extra:
            log.removeHandler(handler)
    assert sizes and set(sizes) == {2}  # full batches: each bad item was replaced by a good one
    assert len(loader.skipped) == 1 and str(image) in loader.skipped.files
    warned = [r for r in caplog.records if "skipped a bad image" in r.getMessage()]
    assert len(warned) == 1 and str(image) in warned[0].getMessage()
