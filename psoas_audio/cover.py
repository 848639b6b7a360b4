"""Cover art: the routine's own image made square, or a calm generated square with the title and
author on it. Bytes in, JPEG bytes out; the font is the one Pillow carries, nothing is fetched."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import PsoasError

if TYPE_CHECKING:  # Pillow is imported only when a cover is made: a warm build reuses it
    from PIL import Image, ImageDraw, ImageFont

SIZE = 1400  # px square: what podcast feeds ask for (1400 to 3000), and sharp in any player
MAX_BYTES = 500_000  # embedded in every MP3: keep it small
TOP, BOTTOM = (36, 52, 74), (92, 124, 128)  # dusk blue to sage: calm, and text reads on it
INK, SOFT_INK = (246, 242, 232), (214, 222, 214)


class CoverError(PsoasError):
    """The routine's cover image cannot be read as an image."""


def cover_from_file(path: Path) -> bytes:
    """The image cropped to its centre square and resized to SIZE, as a JPEG."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            picture = _rgb(image)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise CoverError(f"cannot read the cover image {path}: {exc}") from None
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    square = picture.crop((left, top, left + side, top + side))
    return _jpeg(square.resize((SIZE, SIZE), Image.Resampling.LANCZOS))


def generated_cover(title: str, author: str | None) -> bytes:
    """A soft vertical gradient, a low glowing circle, the title large and the author small."""
    from PIL import Image, ImageDraw, ImageFilter

    image = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(image)
    for y in range(SIZE):
        share = y / (SIZE - 1)
        colour = tuple(round(a + (b - a) * share) for a, b in zip(TOP, BOTTOM, strict=True))
        draw.line([(0, y), (SIZE, y)], fill=colour)
    glow = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(glow).ellipse((SIZE * 0.28, SIZE * 0.56, SIZE * 0.72, SIZE * 1.0), fill=90)
    image.paste(Image.new("RGB", (SIZE, SIZE), (238, 214, 170)), mask=glow.filter(
        ImageFilter.GaussianBlur(SIZE / 18)
    ))  # fmt: skip
    _centred_text(draw, title, SIZE * 0.12, SIZE * 0.14, INK, most_lines=3)
    if author:
        _centred_text(draw, author, SIZE * 0.045, SIZE * 0.82, SOFT_INK, most_lines=2)
    return _jpeg(image)


def _centred_text(
    draw: ImageDraw.ImageDraw,
    text: str,
    size: float,
    top: float,
    colour: tuple[int, int, int],
    most_lines: int,
) -> None:
    """The text wrapped to 80 % of the width, in the largest size up to `size` that fits."""
    from PIL import ImageFont

    for points in range(round(size), 11, -4):
        font = ImageFont.load_default(size=points)
        lines = _wrapped(draw, text, font, SIZE * 0.8)
        if lines is not None and len(lines) <= most_lines:
            break
    lines = lines or [text]
    y = top
    for line in lines:
        box = draw.textbbox((0, 0), line, font=font)
        draw.text(((SIZE - (box[2] - box[0])) / 2, y), line, font=font, fill=colour)
        y += points * 1.25


def _wrapped(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: float,
) -> list[str] | None:
    """Greedy word wrap by measured width; None if a single word is wider than the line."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(candidate, font=font) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    if any(draw.textlength(line, font=font) > width for line in lines):
        return None
    return lines


def _rgb(image: Image.Image) -> Image.Image:
    """RGB without alpha (what feeds and players want), transparent parts on white."""
    if image.mode in ("RGBA", "LA", "P"):
        from PIL import Image

        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    """JPEG at the best quality that stays under MAX_BYTES."""
    for quality in (88, 80, 70, 60, 50, 40):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
        if buffer.tell() <= MAX_BYTES:
            return buffer.getvalue()
    return _jpeg(image.resize((image.width * 3 // 4, image.height * 3 // 4)))
