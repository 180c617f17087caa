"""Load one dataset image for a model, or say in a short line why it cannot be used.

Guards: files outside the dataset folder (through symlinks) are refused; Pillow's
decompression-bomb limit is an error, not a warning; truncated files are errors. Images
are shown to the model the way a viewer shows them: EXIF orientation applied, first frame
of an animation, transparency flattened onto white, 16-bit scaled to 8-bit, RGB.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError


class ImageProblem(Exception):
    """Why an image cannot be rated; str() is a short cause naming the file."""


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        image = image.point(lambda v: v * (1 / 256)).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in {"LA", "PA"}:
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def check_inside(path: Path, root: Path) -> Path:
    """The resolved path, if it stays inside root (symlinks included)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ImageProblem(f"{path.name}: points outside the dataset folder ({resolved})")
    return resolved


def load_image(path: Path, root: Path | None = None) -> Image.Image:
    """The image as RGB, ready for a model. Raises ImageProblem with a short cause."""
    path = Path(path)
    try:
        if root is not None:
            check_inside(path, root)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.seek(0)
                image.load()
                image = ImageOps.exif_transpose(image) or image
                return _flatten(image)
    except ImageProblem:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise _problem(path, exc) from None


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, with load_image's limits (the
    decompression-bomb limit is an error); ImageProblem with the same short cause."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                return int(image.width), int(image.height)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise _problem(path, exc) from None
    except Exception as exc:  # a crafted header may raise anything; it is no image
        raise ImageProblem(f"{path.name}: unreadable ({type(exc).__name__})") from None


def _problem(path: Path, exc: BaseException) -> ImageProblem:
    """The short cause of an image that cannot be read (load_image, image_size)."""
    if isinstance(exc, FileNotFoundError):
        return ImageProblem(f"{path.name}: file not found")
    if isinstance(exc, PermissionError):
        return ImageProblem(f"{path.name}: permission denied")
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return ImageProblem(f"{path.name}: too large ({exc})")
    if isinstance(exc, UnidentifiedImageError):
        return ImageProblem(f"{path.name}: not an image (or an unsupported format)")
    cause = str(exc) or type(exc).__name__
    if "truncated" in cause:
        cause = "truncated file"
    return ImageProblem(f"{path.name}: unreadable ({cause})")
