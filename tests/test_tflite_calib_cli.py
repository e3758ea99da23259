"""``edgemnv2 build --target pi --precision int8``: every bad --calib input gives one clear line, exit 1.

Unusable files are skipped and counted, grayscale / RGBA / 16-bit images converted and counted
(the build goes on); a missing, empty or useless folder, or fewer images than --calib-count, stops
the build before any conversion work and leaves no bundle behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.photos import write_photo_folder

TINY = ["--target", "pi", "--task", "classify", "--width-mult", "0.35", "--resolution", "96", "--num-classes", "3",
        "--precision", "int8"]


def _fails(cli, args, out: Path, *needles: str) -> str:
    proc = cli(["build", *TINY, *map(str, args), "--out", out])
    err = proc.stderr.strip()
    assert proc.returncode == 1, (proc.returncode, err)
    assert "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith("error:"), err
    for n in needles:
        assert n in last, (n, last)
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.*"))
    return last


def test_int8_without_calib(cli, tmp_path: Path) -> None:
    _fails(cli, [], tmp_path / "b", "int8 needs calibration images", "--calib DIR")


def test_calib_folder_missing(cli, tmp_path: Path) -> None:
    _fails(cli, ["--calib", tmp_path / "nope"], tmp_path / "b", "does not exist")


def test_calib_is_a_file(cli, tmp_path: Path) -> None:
    f = tmp_path / "x.jpg"
    f.write_bytes(b"x")
    _fails(cli, ["--calib", f], tmp_path / "b", "is not a folder")


def test_calib_folder_empty(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _fails(cli, ["--calib", tmp_path / "empty"], tmp_path / "b", "is empty")


def test_calib_folder_without_usable_images(cli, tmp_path: Path) -> None:
    d = tmp_path / "junk"
    d.mkdir()
    (d / "notes.txt").write_text("not an image")
    (d / "broken.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    last = _fails(cli, ["--calib", d], tmp_path / "b", "has no usable image", "2 files skipped")
    assert "broken.jpg" in last or "notes.txt" in last


def test_single_image_is_not_enough(cli, tmp_path: Path) -> None:
    d = write_photo_folder(tmp_path / "one", 1)
    _fails(cli, ["--calib", d, "--calib-count", "50"], tmp_path / "b", "has 1 usable image", "at least 2")


def test_bad_calib_count(cli, tmp_path: Path) -> None:
    d = write_photo_folder(tmp_path / "few", 2)
    _fails(cli, ["--calib", d, "--calib-count", "0"], tmp_path / "b", "--calib-count must be positive")


def test_mixed_folder_skips_converts_and_warns_when_fewer(cli, tmp_path: Path) -> None:
    """Gray, RGBA and 16-bit images are converted, junk skipped, fewer images than asked used with a warning;
    each counted, in the log and in the manifest."""
    pytest.importorskip("tensorflow")
    import cv2

    d = write_photo_folder(tmp_path / "mixed", 6, seed=2)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(d / "gray.png"), rng.integers(0, 256, (80, 90), dtype=np.uint8))
    cv2.imwrite(str(d / "rgba.png"), rng.integers(0, 256, (80, 90, 4), dtype=np.uint8))
    cv2.imwrite(str(d / "deep16.png"), rng.integers(0, 65536, (80, 90, 3), dtype=np.uint16))
    (d / "readme.txt").write_text("hello")
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "bundle"
    proc = cli(["build", *TINY, "--calib", d, "--calib-count", "40", "--max-drop", "100", "--out", out])
    assert proc.returncode == 0, proc.stderr
    assert "only 9 usable images, fewer than --calib-count 40: using them all" in proc.stderr, proc.stderr
    assert "skipped 2 unusable file(s)" in proc.stderr and "converted 3 image(s)" in proc.stderr, proc.stderr
    cal = json.loads((out / "manifest.json").read_text())["calibration"]
    assert (cal["read"], cal["count"], cal["held_out"], cal["skipped"], cal["converted"]) == (9, 8, 1, 2, 3)
    assert cal["folder"] == "mixed" and len(cal["image_list_sha256"]) == 64
    # The same folder hashes the same way: the manifest identifies the calibration set.
    from edgemnv2.calibration.images import load_calibration_images

    assert load_calibration_images(d, 40).list_sha256 == cal["image_list_sha256"]


def test_calib_ignored_for_fp32_says_so(cli, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    d = write_photo_folder(tmp_path / "c", 2)
    args = [a if a != "int8" else "fp32" for a in TINY]
    proc = cli(["build", *args, "--calib", d, "--out", tmp_path / "b"])
    assert proc.returncode == 0, proc.stderr
    assert "--calib is only used for int8" in proc.stderr
