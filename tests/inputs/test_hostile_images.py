"""Bad and unusual image files: each bad one is a clear cause, each odd one is shown as a
viewer would show it, and a run with them completes."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import ScriptedEngine, make_dataset, runner_for, write_png_bomb
from vlmrate.inputs.images import ImageProblem, load_image
from vlmrate.runfolder.store import read_ratings


def _jpeg_bytes(image: Image.Image, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    return root


@pytest.mark.parametrize(
    ("name", "make", "cause"),
    [
        ("zero.jpg", lambda p: p.write_bytes(b""), "not an image"),
        ("text.jpg", lambda p: p.write_text("hello, I am not a JPEG\n"), "not an image"),
        ("truncated.jpg",
         lambda p: p.write_bytes(_jpeg_bytes(Image.effect_noise((200, 200), 50))[:1500]),
         "truncated"),
        ("bomb.png", write_png_bomb, "too large"),
        ("gone.png", lambda p: None, "file not found"),
    ],
)
def test_bad_images_have_a_clear_cause(folder: Path, name: str, make, cause: str) -> None:
    path = folder / name
    make(path)
    with pytest.raises(ImageProblem, match=cause) as info:
        load_image(path, folder)
    assert name in str(info.value)


def test_symlink_outside_dataset_refused(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(outside)
    (folder / "link.png").symlink_to(outside)
    with pytest.raises(ImageProblem, match="outside the dataset"):
        load_image(folder / "link.png", folder)
    inside = folder / "real.png"
    Image.new("RGB", (4, 4)).save(inside)
    (folder / "ok.png").symlink_to(inside)
    assert load_image(folder / "ok.png", folder).size == (4, 4)


def test_unreadable_permissions(folder: Path) -> None:
    path = folder / "locked.png"
    Image.new("RGB", (4, 4)).save(path)
    path.chmod(0)
    code = (
        "import os, sys\n"
        "from PIL import Image\n"
        "from vlmrate.inputs.images import load_image, ImageProblem\n"
        "Image.init()\n"
        "if os.geteuid() == 0: os.setgid(65534); os.setuid(65534)  # root reads anything\n"
        "try:\n    load_image(sys.argv[1])\nexcept ImageProblem as e:\n    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    folder.chmod(0o755)
    folder.parent.chmod(0o755)
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, env=env, check=False)
    assert "locked.png: permission denied" in out.stdout, out.stderr


def test_cmyk_jpeg_becomes_rgb(folder: Path) -> None:
    path = folder / "cmyk.jpg"
    path.write_bytes(_jpeg_bytes(Image.new("CMYK", (8, 8), (0, 255, 255, 0))))
    image = load_image(path, folder)
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((4, 4))
    assert red > 200 and green < 60 and blue < 60


def test_16_bit_png_scaled(folder: Path) -> None:
    path = folder / "deep.png"
    Image.new("I;16", (8, 8), 65535).save(path)
    image = load_image(path, folder)
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)


def test_palette_with_transparency_on_white(folder: Path) -> None:
    path = folder / "pal.png"
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0] * 256)
    image.info["transparency"] = 0
    image.save(path, transparency=0)
    assert load_image(path, folder).getpixel((1, 1)) == (255, 255, 255)


def test_animated_gif_first_frame(folder: Path) -> None:
    path = folder / "anim.gif"
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    red, _, blue = load_image(path, folder).getpixel((4, 4))
    assert red > 200 and blue < 50


def test_exif_rotation_applied(folder: Path) -> None:
    path = folder / "rotated.jpg"
    image = Image.new("RGB", (40, 20), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    path.write_bytes(_jpeg_bytes(image, exif=exif.tobytes()))
    assert load_image(path, folder).size == (20, 40)


def test_run_completes_around_bad_images(tmp_path: Path) -> None:
    data = make_dataset(tmp_path, n=5)
    images = data / "images"
    (images / "pic002.png").write_bytes(b"")
    write_png_bomb(images / "pic003.png")
    (images / "pic004.png").unlink()
    (images / "pic004.png").symlink_to(tmp_path / "elsewhere.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "elsewhere.png")
    runner = runner_for(tmp_path, ScriptedEngine())
    runner.prepare()
    (images / "pic005.png").unlink()  # disappears mid-run
    final = asyncio.run(runner.run())
    frame = read_ratings(tmp_path / "runs/r")
    assert final.status == "done" and frame.height == 5 * 3 * 2
    errors = dict(frame.filter(repeat=1, aspect="valence")
                  .select("image_id", "engine_error").iter_rows())
    assert errors["pic001"] is None
    assert "pic002.png: not an image" in errors["pic002"]
    assert "pic003.png: too large" in errors["pic003"]
    assert "pic004.png: points outside the dataset" in errors["pic004"]
    assert "pic005.png: file not found" in errors["pic005"]


# --- issue 17: two files of one image, formula-like names, a dataset of only bad images ---

def test_two_files_of_one_image_are_refused(tmp_path: Path) -> None:
    from vlmrate.errors import UserError
    from vlmrate.inputs.dataset import discover_images

    data = make_dataset(tmp_path, n=2)
    Image.new("RGB", (4, 4)).save(data / "images" / "PIC1.jpg")  # = pic001.png
    with pytest.raises(UserError, match=r"PIC1.jpg and pic001.png have the same image id "
                                        r"\(ids match regardless of case"):
        discover_images(data)


def test_formula_like_image_names_stay_text_in_the_csv(tmp_path: Path) -> None:
    import csv

    from vlmrate.export.tables import write_ratings_csv
    from vlmrate.runfolder.store import load_run

    data = make_dataset(tmp_path, n=1)
    (data / "human.csv").unlink()
    for name in ("=2+2", "-1+1", "@SUM(1)", "+cmd"):
        Image.new("RGB", (4, 4)).save(data / "images" / f"{name}.png")
    final = asyncio.run(runner_for(tmp_path, ScriptedEngine()).run())
    assert final.status == "done"
    path = write_ratings_csv(load_run(tmp_path / "runs" / "r"), tmp_path / "r.csv")
    with open(path, newline="") as handle:
        ids = {row["image_id"] for row in csv.DictReader(handle)}
    assert ids == {"pic001", "'=2+2", "'-1+1", "'@SUM(1)", "'+cmd"}


def test_only_bad_images_is_a_failed_run(tmp_path: Path) -> None:
    data = make_dataset(tmp_path, n=2)
    for image in (data / "images").iterdir():
        image.write_bytes(b"not an image")
    final = asyncio.run(runner_for(tmp_path, ScriptedEngine()).run())
    assert final.status == "failed" and final.engine_errors == final.total == 2 * 3 * 2
    assert final.message.startswith("every answer failed (e.g. image: pic00")
    assert "not an image" in final.message
