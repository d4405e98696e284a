"""``mlpose zoo``: one row per name users type, facts computed, MMPose's AP where a recipe mirrors one."""
import pytest

from mlpose.config import resolve_config_path
from mlpose.zoo import PUBLISHED_AP, find_recipes, zoo_table
from mlpose.zoo.recipes import alias_target

TINY = resolve_config_path("tiny").resolve()


def test_short_names_stand_for_their_recipe(tmp_path):
    (tmp_path / "td-hm_res50_8xb64-210e_coco-256x192.py").write_text(f"_base_ = ['{TINY}']\nrandomness = dict(seed=1)\n")
    (tmp_path / "r50.py").write_text("_base_ = ['td-hm_res50_8xb64-210e_coco-256x192.py']  # short name\n")
    (tmp_path / "mine.py").write_text(f"_base_ = ['{TINY}']\n")  # a short name of a recipe elsewhere
    (tmp_path / "variant.py").write_text("_base_ = ['r50.py']\ntrain_cfg = dict(max_epochs=3)\n")
    rows = {r.name: r for r in find_recipes([tmp_path])}
    assert sorted(rows) == ["mine", "r50", "variant"]  # the full file is listed under its short name
    assert rows["r50"].path.name == "td-hm_res50_8xb64-210e_coco-256x192.py"
    assert rows["r50"].mirrors == "td-hm_res50_8xb64-210e_coco-256x192"
    assert rows["mine"].path == TINY and rows["variant"].mirrors is None
    assert alias_target(tmp_path / "variant.py") is None


def test_the_published_table_holds_the_families_being_added():
    for name, ap in [("td-hm_res50_8xb64-210e_coco-256x192", 0.718), ("td-hm_hrnet-w32_8xb64-210e_coco-256x192", 0.746),
                     ("td-hm_ViTPose-base_8xb64-210e_coco-256x192", 0.757), ("rtmpose-m_8xb256-420e_coco-256x192", 0.746)]:
        assert PUBLISHED_AP[name] == ap
    assert not any(name.startswith(("rtmo", "dekr", "cid", "ae_", "edpose", "yoloxpose")) for name in PUBLISHED_AP)


def test_zoo_lists_the_repositorys_recipes(tmp_path, monkeypatch, measure_cache):
    monkeypatch.chdir(tmp_path)  # no ./experiments here: the repository's
    lines = zoo_table().splitlines()
    header, rows = lines[0].split(), {line.split()[0]: line.split() for line in lines[2:-1]}
    assert header[:3] == ["name", "recipe", "backbone"] and "GFLOPs" in header
    assert rows["res50"] == ["res50", "td-hm_res50_8xb64-210e_coco-256x192", "ResNet-50", "HeatmapHead",
                             "MSRAHeatmap", "256x192", "34.0", "5.43", "0.718"]
    assert rows["tiny"][2:6] == ["ResNet-18", "HeatmapHead", "UDPHeatmap", "128x96"] and rows["tiny"][-1] == "-"
    assert {"res18", "res50-coco-aic", "tiny-sweep"} <= set(rows)
    assert lines[-1].startswith(f"{len(rows)} recipes in ")
