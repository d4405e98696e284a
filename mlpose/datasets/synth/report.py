"""What ``mlpose data synth`` tells the user it wrote."""
from __future__ import annotations

from pathlib import Path


def summary_lines(summary: dict) -> list[str]:
    """Lines naming the counts, the files and folders written and the time, from
    :func:`~mlpose.datasets.synth.writer.generate`'s summary."""
    out = Path(summary["out_dir"])
    ann = out / "annotations"
    splits = summary["splits"]
    counts = ", ".join(f"{s['images']} {name} images ({s['instances']} people, {s['crowd']} crowd regions)"
                       for name, s in splits.items())
    width, height = summary["image_size"]
    lines = [f"wrote {counts} of {width}x{height}, {summary.get('detections', 0)} val detections to {out} "
             f"in {summary['seconds']:.1f} s ({summary['images_per_s']:.0f} images/s)"]
    for name in splits:
        lines.append(f"  {out / 'images' / name}/  {ann / f'person_keypoints_{name}.json'}  {ann / f'aic_{name}.json'}")
    lines.append(f"  {ann / 'person_detection_results_val.json'}  {ann / 'synth_info.json'}")
    return lines
