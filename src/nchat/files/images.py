"""Thumbnails and previews of uploaded images, and avatars, made with Pillow in a worker
thread.

What is written is a new image: oriented as the EXIF tag says, then saved as WebP without
any of the original's metadata (no GPS position leaves with a thumbnail). Images larger than
the pixel limit are refused before their pixels are decoded: a small file can declare a
huge canvas (a decompression bomb)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from nchat.errors import ValidationFailed

# What Pillow decodes here, by sniffed type: the first frame of an animated GIF or WebP.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
THUMBNAIL_PX = 400
PREVIEW_PX = 1600
_QUALITY = 80
# EXIF orientations that turn the image a quarter: width and height swap for display.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


class ImageTooLarge(ValidationFailed):
    code = "image_too_large"
    message = "The image has more pixels than this server decodes"


@dataclass(frozen=True, slots=True)
class Rendered:
    width: int
    height: int
    thumbnail: bytes
    preview: bytes


def render(source: BinaryIO, max_pixels: int) -> Rendered | None:
    """The image's display size, thumbnail and preview; None when it cannot be decoded (the
    file is kept as it is, without them). Blocking: run it in a worker thread."""
    with _decoding(max_pixels), Image.open(source) as image:
        width, height = _checked_size(image, max_pixels)
        if image.getexif().get(0x0112) in _QUARTER_TURNS:
            width, height = height, width
        image.draft("RGB", (PREVIEW_PX, PREVIEW_PX))  # JPEG: decode at a fraction
        oriented = ImageOps.exif_transpose(image)
        return Rendered(
            width=width,
            height=height,
            thumbnail=_encoded(oriented, THUMBNAIL_PX),
            preview=_encoded(oriented, PREVIEW_PX),
        )
    return None


def square(source: BinaryIO, max_pixels: int, side: int) -> bytes | None:
    """The image oriented, cropped to its centred square and scaled to `side` pixels, as
    WebP (an avatar); None when it cannot be decoded. Blocking: run it in a worker thread."""
    with _decoding(max_pixels), Image.open(source) as image:
        _checked_size(image, max_pixels)
        # JPEG: decode at the smallest fraction still at least `side` on its shorter edge.
        image.draft("RGB", (side, side))
        oriented = _displayable(ImageOps.exif_transpose(image))
        return _webp(ImageOps.fit(oriented, (side, side), Image.Resampling.LANCZOS))
    return None


@contextmanager
def _decoding(max_pixels: int) -> Iterator[None]:
    """Decoding guarded: a decompression bomb raises ImageTooLarge; bytes Pillow cannot
    decode end the block quietly (the caller then returns None)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLarge(details={"max_pixels": max_pixels}) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return


def _checked_size(image: Image.Image, max_pixels: int) -> tuple[int, int]:
    """The declared size, refused before any pixel is decoded when over the limit."""
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(details={"max_pixels": max_pixels})
    return width, height


def _displayable(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    return image.convert(
        "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
    )


def _encoded(image: Image.Image, box: int) -> bytes:
    copy = _displayable(image.copy())
    copy.thumbnail((box, box), Image.Resampling.LANCZOS)
    return _webp(copy)


def _webp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "WEBP", quality=_QUALITY)
    return out.getvalue()
