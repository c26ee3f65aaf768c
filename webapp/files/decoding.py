"""Full image decodes, bounded per process: the memory an image costs is its pixels, not its file size.

A 156 KB PNG of 7000 x 7000 decodes to 147 MB, and a thumbnail of it briefly holds two such copies; with 32
threads per worker all decoding at once, one worker would reach gigabytes and the out-of-memory killer would
take every chat stream on it along. So every full decode (inspecting an upload, making its thumbnail, reading
a photo for a face job) takes one of IMAGE_DECODE_CONCURRENCY slots; the others wait their turn, up to
IMAGE_DECODE_WAIT_SECONDS, and are then refused with 503 and Retry-After rather than queued without end.
Headers, PDFs and text never take a slot. A decode that must wait first gives back what its request holds
(its database connection: 32 waiting requests would otherwise empty the pool and fail everyone with 503).

What a decode frees must also go back to the system. Pillow keeps pixels in blocks of 16 MB by default, and
glibc serves blocks of that size from per-thread arenas (once one freed mapping has raised its mmap threshold)
and keeps them: after 32 decodes on 32 threads a worker held 4.9 GB with two decodes at a time. Blocks larger
than glibc's highest mmap threshold (32 MB) are always mapped and unmapped, so the worker shrinks back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from PIL import Image

from webapp.errors import Unavailable
from webapp.units import MEGABYTE

PIXEL_BLOCK_BYTES = 64 * MEGABYTE  # above glibc's DEFAULT_MMAP_THRESHOLD_MAX (32 MB on 64-bit)


def use_large_pixel_blocks() -> None:
    """Pillow's pixel blocks above glibc's mmap threshold, so decoded images go back to the system (see above).
    Process-wide; called once when the app is built, not at import."""
    Image.core.set_block_size(PIXEL_BLOCK_BYTES)


BUSY_MESSAGE = (
    "The server is busy reading other images right now, and this one waited its turn for {seconds} seconds. "
    "Nothing was saved; try again in a minute."
)


class ImageDecodeBusy(Unavailable):
    """No decode slot came free in time (503, with Retry-After)."""


class DecodeSlots:
    """At most `limit` full image decodes at once in this process; a decode waits up to `wait_seconds` for a slot.
    config.py checks both values (IMAGE_DECODE_CONCURRENCY, IMAGE_DECODE_WAIT_SECONDS)."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self, before_waiting: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold one decode slot for the `with` block; raises ImageDecodeBusy if none comes free in time.

        `before_waiting` runs only when no slot is free at once, before the wait (to give back what the caller
        should not hold while it waits)."""
        if not self._slots.acquire(blocking=False):
            if before_waiting is not None:
                before_waiting()
            if not self._slots.acquire(timeout=self.wait_seconds):
                raise ImageDecodeBusy(
                    BUSY_MESSAGE.format(seconds=f"{self.wait_seconds:g}"),
                    retry_after=max(1, round(self.wait_seconds)),
                )
        try:
            yield
        finally:
            self._slots.release()
