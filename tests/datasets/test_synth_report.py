"""``mlpose data synth`` says what it wrote: counts, paths, seconds."""
from mlpose.datasets.synth import generate
from mlpose.datasets.synth.report import summary_lines


def test_summary_names_counts_files_and_time(tmp_path):
    summary = generate(tmp_path / "d", num_train=2, num_val=1, seed=0, image_size=(64, 64), progress=False)
    lines = summary_lines(summary)
    first = lines[0]
    train, val = summary["splits"]["train"], summary["splits"]["val"]
    assert f"wrote 2 train images ({train['instances']} people" in first and f"1 val images ({val['instances']} people" in first
    assert f"to {tmp_path / 'd'} in " in first and " s (" in first
    text = "\n".join(lines)
    for name in ("images/train", "annotations/person_keypoints_val.json", "annotations/aic_train.json",
                 "annotations/person_detection_results_val.json"):
        assert str(tmp_path / "d" / name) in text and (tmp_path / "d" / name).exists()
