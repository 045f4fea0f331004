"""Real media files for the media tests, made on the spot: JPEG, PNG and GIF with Pillow, MP4 with ffmpeg."""

from __future__ import annotations

import functools
import io
import os
import struct
import subprocess
import tempfile
from pathlib import Path

from PIL import ExifTags, Image

from domain.media_processing import ffmpeg_exe

GPS_IFD = ExifTags.IFD.GPSInfo
ORIENTATION = 0x0112


def gradient(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Red grows left to right, green top to bottom: orientation and scaling are visible in the pixels."""
    across = Image.linear_gradient("L").rotate(90).transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((width, height))
    down = Image.linear_gradient("L").resize((width, height))
    bands = [across, down, Image.new("L", (width, height), 128)]
    if mode == "RGBA":
        bands.append(Image.new("L", (width, height), 200))
    return Image.merge(mode, bands)


def jpeg(width: int = 120, height: int = 80, *, gps: bool = True, orientation: int | None = None) -> bytes:
    """A JPEG carrying EXIF, with a GPS position unless `gps` is False."""
    exif = Image.Exif()
    exif[0x010F] = "Chirp Test Camera"  # Make
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    out = io.BytesIO()
    gradient(width, height).save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def png(width: int = 100, height: int = 60, *, alpha: bool = True) -> bytes:
    out = io.BytesIO()
    gradient(width, height, "RGBA" if alpha else "RGB").save(out, "PNG")
    return out.getvalue()


def gif(width: int = 64, height: int = 48, frames: int = 6) -> bytes:
    """An animated GIF (a still one with frames=1)."""
    images = [Image.new("RGB", (width, height), ((i * 40) % 256, 80, 160)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=frames > 1, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def noisy_gif(width: int, height: int, frames: int) -> bytes:
    """An animated GIF of random pixels: slow to convert, for catching a worker mid-job."""
    images = [Image.frombytes("L", (width, height), os.urandom(width * height)).convert("P") for _ in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return out.getvalue()


@functools.cache
def mp4(seconds: float = 1.0, size: str = "160x120", rate: int = 25) -> bytes:
    """A short H.264/AAC MP4 carrying a GPS location in its metadata."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "clip.mp4"
        subprocess.run(
            [
                ffmpeg_exe(), "-hide_banner", "-nostdin", "-y",
                "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
                "-f", "lavfi", "-i", "sine=frequency=440",
                "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-metadata", "location=+48.8583+002.2945/", str(target),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return target.read_bytes()


@functools.cache
def webm(seconds: float = 1.0, size: str = "160x120") -> bytes:
    """A short VP9 WebM (silent)."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "clip.webm"
        subprocess.run(
            [
                ffmpeg_exe(), "-hide_banner", "-nostdin", "-y",
                "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25", "-t", str(seconds),
                "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", str(target),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return target.read_bytes()


def padded_mp4(total: int) -> bytes:
    """A valid MP4 of exactly `total` bytes: a short clip followed by a `free` box (which players skip)."""
    clip = mp4()
    padding = total - len(clip) - 8
    assert padding >= 0
    return clip + struct.pack(">I", padding + 8) + b"free" + os.urandom(padding)


def segments(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]
