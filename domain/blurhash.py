"""The BlurHash encoder (https://blurha.sh): a short string clients turn into a blurred placeholder.

A pure function over RGB pixels, so it runs anywhere (here: in the media worker's thread, on a thumbnail
of at most a few thousand pixels). It follows the reference implementation bit for bit, so any client's
decoder reads what it writes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

Pixel = tuple[int, int, int]


def _base83(value: int, length: int) -> str:
    return "".join(_ALPHABET[(value // 83 ** (length - i)) % 83] for i in range(1, length + 1))


def _srgb_to_linear(value: int) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _linear_to_srgb(value: float) -> int:
    v = max(0.0, min(1.0, value))
    if v <= 0.0031308:
        return int(v * 12.92 * 255 + 0.5)
    return int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _sign_pow(value: float, exponent: float) -> float:
    return math.copysign(abs(value) ** exponent, value)


def encode(pixels: Sequence[Pixel], width: int, height: int, *, x_components: int = 4, y_components: int = 4) -> str:
    """BlurHash of a `width`×`height` image given row by row as sRGB (r, g, b) tuples."""
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError("blurhash needs 1 to 9 components in each direction")
    if width < 1 or height < 1 or len(pixels) != width * height:
        raise ValueError("pixels do not match the given size")
    linear = [(_srgb_to_linear(r), _srgb_to_linear(g), _srgb_to_linear(b)) for r, g, b in pixels]
    cos_x = [[math.cos(math.pi * cx * i / width) for i in range(width)] for cx in range(x_components)]
    cos_y = [[math.cos(math.pi * cy * j / height) for j in range(height)] for cy in range(y_components)]

    factors: list[tuple[float, float, float]] = []
    for cy in range(y_components):
        for cx in range(x_components):
            r = g = b = 0.0
            row_cos_x = cos_x[cx]
            for j in range(height):
                weight_y = cos_y[cy][j]
                offset = j * width
                for i in range(width):
                    basis = row_cos_x[i] * weight_y
                    pr, pg, pb = linear[offset + i]
                    r += basis * pr
                    g += basis * pg
                    b += basis * pb
            scale = (1 if cx == 0 and cy == 0 else 2) / (width * height)
            factors.append((r * scale, g * scale, b * scale))

    dc, ac = factors[0], factors[1:]
    out = _base83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual_max = max(abs(v) for factor in ac for v in factor)
        quantised_max = max(0, min(82, math.floor(actual_max * 166 - 0.5)))
        maximum = (quantised_max + 1) / 166
        out += _base83(quantised_max, 1)
    else:
        maximum = 1.0
        out += _base83(0, 1)
    out += _base83((_linear_to_srgb(dc[0]) << 16) + (_linear_to_srgb(dc[1]) << 8) + _linear_to_srgb(dc[2]), 4)
    for factor in ac:
        qr, qg, qb = (max(0, min(18, math.floor(_sign_pow(v / maximum, 0.5) * 9 + 9.5))) for v in factor)
        out += _base83(qr * 19 * 19 + qg * 19 + qb, 2)
    return out
