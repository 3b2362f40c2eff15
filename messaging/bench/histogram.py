"""A latency histogram as a PNG, written with ``zlib`` and ``struct`` only (no plotting stack).

Linear bins from 0 to the 99.9th percentile (the rare slower samples pile into the last bin,
so one outlier does not flatten the rest); p50 in green and p99 in red; axis figures in a tiny
5-pixel-high font, in milliseconds.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

from messaging.bench.report import percentile

WIDTH, HEIGHT = 800, 400
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 30, 40
BINS = 80
SCALE = 2

Color = tuple[int, int, int]
BACKGROUND: Color = (255, 255, 255)
AXIS: Color = (40, 40, 40)
BAR: Color = (70, 110, 190)
P50: Color = (30, 150, 60)
P99: Color = (200, 40, 40)

_GLYPHS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    ".": ("000", "000", "000", "000", "010"),
    "m": ("00000", "11110", "10101", "10101", "10101"),
    "s": ("000", "011", "100", "001", "110"),
    "p": ("000", "111", "101", "111", "100"),
    "n": ("000", "110", "101", "101", "101"),
    "=": ("000", "111", "000", "111", "000"),
    " ": ("000", "000", "000", "000", "000"),
}


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rows = [bytearray(bytes(BACKGROUND) * width) for _ in range(height)]

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        for y in range(max(y0, 0), min(y1, self.height)):
            for x in range(max(x0, 0), min(x1, self.width)):
                self.rows[y][3 * x : 3 * x + 3] = bytes(color)

    def text(self, x: int, y: int, value: str, color: Color = AXIS) -> None:
        for char in value:
            glyph = _GLYPHS.get(char, _GLYPHS[" "])
            for gy, line in enumerate(glyph):
                for gx, bit in enumerate(line):
                    if bit == "1":
                        left = x + gx * SCALE
                        self.rect(left, y + gy * SCALE, left + SCALE, y + (gy + 1) * SCALE, color)
            x += (len(glyph[0]) + 1) * SCALE

    def png(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(row) for row in self.rows)

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def _label(value_ms: float) -> str:
    return f"{value_ms:.1f}" if value_ms < 100 else f"{value_ms:.0f}"


def histogram_png(samples_ns: Sequence[int]) -> bytes:
    ordered = sorted(samples_ns)
    canvas = Canvas(WIDTH, HEIGHT)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_ms = max(percentile(ordered, 0.999) / 1e6, 0.001) if ordered else 1.0
    counts = [0] * BINS
    for sample in ordered:
        counts[min(int(sample / 1e6 / top_ms * BINS), BINS - 1)] += 1
    tallest = max(max(counts), 1)
    bar_w = plot_w / BINS
    for n, count in enumerate(counts):
        height = round(count / tallest * plot_h)
        x0 = LEFT + round(n * bar_w)
        x1 = LEFT + round((n + 1) * bar_w) - 1
        canvas.rect(x0, TOP + plot_h - height, max(x1, x0 + 1), TOP + plot_h, BAR)
    for name, fraction, color in (("p50", 0.50, P50), ("p99", 0.99, P99)):
        value = percentile(ordered, fraction) / 1e6 if ordered else 0.0
        x = LEFT + min(round(value / top_ms * plot_w), plot_w - 1)
        canvas.rect(x, TOP, x + 2, TOP + plot_h, color)
        legend_x = LEFT + 10 if name == "p50" else LEFT + 200
        canvas.text(legend_x, 8, f"{name}={_label(value)}ms", color)
    canvas.text(LEFT + 400, 8, f"n={len(ordered)}")
    canvas.rect(LEFT, TOP + plot_h, LEFT + plot_w, TOP + plot_h + 2, AXIS)
    canvas.rect(LEFT - 2, TOP, LEFT, TOP + plot_h + 2, AXIS)
    for tick in range(5):
        x = LEFT + round(tick / 4 * (plot_w - 1))
        canvas.rect(x, TOP + plot_h + 2, x + 2, TOP + plot_h + 8, AXIS)
        canvas.text(x - 10, TOP + plot_h + 14, _label(top_ms * tick / 4))
    canvas.text(WIDTH - RIGHT - 30, TOP + plot_h + 28, "ms")
    canvas.text(4, TOP, str(tallest))
    canvas.text(4, TOP + plot_h - 10, "0")
    return canvas.png()


def write_histogram(samples_ns: Sequence[int], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(histogram_png(samples_ns))
