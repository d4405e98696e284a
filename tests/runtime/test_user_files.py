"""Files written at a path the user gave: never over an input, a hard-linked or a tracking-store
file, always whole (a failed write leaves the previous file), one line for unwritable places."""
import os
import subprocess

import pytest

from mlpose.errors import ConfigError
from mlpose.runtime.user_files import (atomic_output, check_folder, check_output, check_outputs, store_folder,
                                       write_output)

RUN = "0123456789abcdef0123456789abcdef"


def test_an_input_is_refused_by_name_and_by_inode(tmp_path):
    ckpt = tmp_path / "best.pth"
    ckpt.write_bytes(b"weights")
    with pytest.raises(ConfigError, match=r"--out .*best.pth is an input of this command; .*choose another file"):
        check_output(ckpt, "--out", [None, ckpt])
    (tmp_path / "alias.pth").symlink_to(ckpt)
    with pytest.raises(ConfigError, match=rf"--out .*alias.pth is an input of this command \({ckpt}\)"):
        check_output(tmp_path / "alias.pth", "--out", [ckpt])
    os.link(ckpt, tmp_path / "linked.pth")  # a second name of the same bytes
    with pytest.raises(ConfigError, match="is an input of this command"):
        check_output(tmp_path / "linked.pth", "--out", [ckpt])
    with pytest.raises(ConfigError, match=r"shares its bytes with 1 other file\(s\) \(a hard link"):
        check_output(tmp_path / "linked.pth", "--out", [])
    check_output(tmp_path / "new.onnx", "--out", [ckpt])  # a new file, or a plain old one, is fine
    assert ckpt.read_bytes() == b"weights"


def test_tracking_store_files_are_refused(tmp_path):
    for inside in (f"store/1/{RUN}/artifacts/checkpoints/x.pth", f"store/1/models/m-{RUN}/artifacts/x.onnx",
                   "mlruns/0/meta.yaml"):
        with pytest.raises(ConfigError, match="lies in the tracking store's folder .* write it somewhere else"):
            check_output(tmp_path / inside, "--out", [])
    assert store_folder(tmp_path / "results" / "artifacts" / "x.json") is None  # not a run's folder
    (tmp_path / "mine").symlink_to(tmp_path / "store" / "1" / RUN, target_is_directory=True)
    assert store_folder(tmp_path / "mine" / "artifacts" / "a.json") is not None  # followed through a link


def test_folders_and_two_outputs_naming_one_file(tmp_path):
    image = tmp_path / "photos" / "a.jpg"
    image.parent.mkdir()
    image.write_bytes(b"jpeg")
    with pytest.raises(ConfigError, match="--vis-dir .*photos holds the input .*a.jpg"):
        check_folder(tmp_path / "photos", "--vis-dir", [image])
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_folder(image, "--vis-dir", [])
    check_folder(tmp_path / "vis", "--vis-dir", [image])
    with pytest.raises(ConfigError, match="--out and --dump both name .*m.json; one would overwrite the other"):
        check_outputs({"--out": tmp_path / "m.json", "--dump": tmp_path / "m.json"})
    with pytest.raises(ConfigError, match="--out .* is a folder; give a file name"):
        check_outputs({"--out": tmp_path, "--dump": None})


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_one(tmp_path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="exporter failed"):
        with atomic_output(out, "--out") as tmp:
            tmp.write_bytes(b"half a fi")
            raise RuntimeError("exporter failed")
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    write_output(tmp_path / "sub" / "r.json", "[]", "--out")
    assert (tmp_path / "sub" / "r.json").read_text() == "[]"
    assert (tmp_path / "sub" / "r.json").stat().st_mode & 0o044  # readable by others as the umask says, not 0600


def test_unwritable_places_are_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"--out .*file/sub/r.json: cannot write there \(.*file is a file, not a "
                                          r"folder\); choose a folder you can write to"):
        write_output(tmp_path / "file" / "sub" / "r.json", "[]", "--out")


def test_an_unwritable_place_is_refused_before_the_work(tmp_path, tmpfs):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"--out .*file/r.json: cannot write there \(.*file is a file, not a folder"):
        check_output(tmp_path / "file" / "r.json", "--out")
    disk = tmpfs("1m")
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    with pytest.raises(ConfigError, match=rf"--vis-dir .*: cannot write there \(Read-only file system: {disk}\)"):
        check_folder(disk / "vis", "--vis-dir")
    check_output(tmp_path / "new" / "deeper" / "r.json", "--out")  # folders to be made below a writable one
