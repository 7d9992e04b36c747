"""Write the app icons (static/appIcon*.png) with the standard library only.

    python tools/icons.py

A dark teal square with a light anchor-like mark; run again only if the design changes.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"


def png(size: int, pixel) -> bytes:
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x / size, y / size)) for x in range(size))
        for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def anchor_mark(x: float, y: float, background: tuple) -> tuple:
    light = (236, 248, 246, 255)
    shaft = abs(x - 0.5) < 0.06 and 0.22 < y < 0.8
    ring = 0.05 < ((x - 0.5) ** 2 + (y - 0.2) ** 2) ** 0.5 < 0.1
    bar = abs(y - 0.34) < 0.045 and 0.3 < x < 0.7
    arc_r = ((x - 0.5) ** 2 + (y - 0.5) ** 2) ** 0.5
    arc = 0.24 < arc_r < 0.32 and y > 0.55
    return light if shaft or ring or bar or arc else background


def main() -> None:
    STATIC.mkdir(exist_ok=True)
    for name, size, background in (
        ("appIcon.png", 36, (14, 94, 96, 255)),
        ("appIcon_2x.png", 72, (14, 94, 96, 255)),
        ("appIconAlt.png", 36, (40, 40, 40, 255)),
        ("appIconAlt_2x.png", 72, (40, 40, 40, 255)),
    ):
        (STATIC / name).write_bytes(png(size, lambda x, y, bg=background: anchor_mark(x, y, bg)))


if __name__ == "__main__":
    main()
