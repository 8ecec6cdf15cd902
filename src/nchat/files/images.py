"""Thumbnails and previews of uploaded images, made with Pillow in a worker thread.

What is written is a new image: oriented as the EXIF tag says, then saved as WebP without
any of the original's metadata (no GPS position leaves with a thumbnail). Images larger than
the pixel limit are refused before their pixels are decoded: a small file can declare a
huge canvas (a decompression bomb)."""

from __future__ import annotations

import io
import warnings
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageTooLarge(details={"max_pixels": max_pixels})
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
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLarge(details={"max_pixels": max_pixels}) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def _encoded(image: Image.Image, box: int) -> bytes:
    copy = image.copy()
    if copy.mode not in ("RGB", "RGBA"):
        copy = copy.convert(
            "RGBA" if "A" in copy.getbands() or "transparency" in copy.info else "RGB"
        )
    copy.thumbnail((box, box), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, "WEBP", quality=_QUALITY)
    return out.getvalue()
