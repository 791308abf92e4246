"""Pictures as the email draws them: hosted, sized for their column, described only when useful."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from digest.models import Image

THUMB_WIDTH = 544
"""The content column: 600 px less the side padding."""
SMALL_THUMB_WIDTH = 120
"""Beside a story in a section."""
FALLBACK_RATIO = 9 / 16
"""Height per width of a picture whose feed gave no size: the common news-photo shape."""


@dataclass(frozen=True)
class Thumbnail:
    """A picture as the email draws it: hosted URL, alt text, width and height."""

    image: Image
    alt: str
    width: int
    height: int

    @property
    def url(self) -> str:
        return self.image.url

    def scaled(self, most: int) -> Thumbnail:
        """The picture at most ``most`` pixels wide (a width the feed did not give counts as large).

        A height is always set, so that the text below does not jump when the picture loads;
        without a size from the feed it is the common 16:9 shape.
        """
        natural_width, natural_height = self.image.width, self.image.height
        width = min(natural_width or most, most)
        ratio = natural_height / natural_width if natural_width and natural_height else None
        return replace(self, width=width, height=round(width * (ratio or FALLBACK_RATIO)))


def thumbnail(image: Image | None, title: str) -> Thumbnail | None:
    """The article's picture at the content column's width, or None when it has no web URL.

    Its alt text is the feed's description of the picture, never the headline: the headline
    is printed beside it, and a reader with pictures off would read it twice.
    """
    if image is None or not is_web_url(image.url):
        return None
    alt = image.alt if image.alt.strip().casefold() != title.strip().casefold() else ""
    # A fixed pixel width (not only CSS) keeps Outlook's renderer inside the column.
    return Thumbnail(image, alt, THUMB_WIDTH, 0).scaled(THUMB_WIDTH)


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
