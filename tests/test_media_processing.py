"""Media processing on its own: type sniffing, declared-type checks, blurhash, and real image and video files."""

from __future__ import annotations

from pathlib import Path

import media_samples as samples
import pytest
from PIL import Image

from domain import blurhash
from domain import media_processing as processing
from domain.media_processing import MediaRejected


def _gradient_pixels(width: int, height: int) -> list[tuple[int, int, int]]:
    return [
        ((x * 255) // (width - 1), (y * 255) // (height - 1), ((x * y) * 7) % 256)
        for y in range(height)
        for x in range(width)
    ]


# Computed with the reference Python implementation of BlurHash (PyPI `blurhash` 1.1.5) on the same pixels.
REFERENCE_HASHES = [
    ((32, 24, 4, 3), "L$HewW2owuX4l_WBjse.gGfhfPfi"),
    ((20, 30, 4, 4), "U$HoE@2.wubql^WBjre:gGfifOfjniWnjvfP"),
    ((8, 8, 1, 1), "00I5YJ"),
]


@pytest.mark.parametrize(("shape", "expected"), REFERENCE_HASHES)
def test_blurhash_matches_the_reference_encoder(shape: tuple[int, int, int, int], expected: str) -> None:
    width, height, x_components, y_components = shape
    pixels = _gradient_pixels(width, height)
    assert blurhash.encode(pixels, width, height, x_components=x_components, y_components=y_components) == expected


def _base83(text: str) -> int:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
    value = 0
    for char in text:
        value = value * 83 + alphabet.index(char)
    return value


def test_blurhash_of_a_flat_colour_encodes_its_size_and_colour() -> None:
    value = blurhash.encode([(255, 64, 0)] * 16, 4, 4, x_components=4, y_components=3)
    assert len(value) == 1 + 1 + 4 + 2 * (4 * 3 - 1)  # size, maximum, DC, one pair per AC term
    assert _base83(value[0]) == (4 - 1) + (3 - 1) * 9
    assert _base83(value[2:6]) == (255 << 16) | (64 << 8)  # the DC term is the average colour
    with pytest.raises(ValueError):
        blurhash.encode([(0, 0, 0)] * 3, 2, 2)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (samples.jpeg(), "image/jpeg"),
        (samples.png(), "image/png"),
        (samples.gif(), "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(20), "image/webp"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(20), "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  " + bytes(20), "video/quicktime"),
        (samples.webm(), "video/webm"),
    ],
)
def test_the_real_type_is_read_from_the_bytes(data: bytes, mime: str) -> None:
    sniffed = processing.sniff(data[: processing.SNIFF_BYTES])
    assert sniffed is not None and sniffed.mime == mime


@pytest.mark.parametrize(
    "data", [b"%PDF-1.7 hello", b"<html><body>", b"\x00\x00\x00\x18ftypheic" + bytes(20), b"", b"GIF8"]
)
def test_other_files_are_not_recognised(data: bytes) -> None:
    assert processing.sniff(data) is None


def test_a_declared_type_or_extension_that_disagrees_with_the_bytes_is_refused() -> None:
    png = processing.PNG
    processing.check_declared(png, "image/png", "picture.png")
    processing.check_declared(png, "application/octet-stream", None)  # generic: the bytes decide
    processing.check_declared(processing.MOV, "video/mp4", "clip.MOV")  # one family
    with pytest.raises(MediaRejected, match="declared as image/jpeg"):
        processing.check_declared(png, "image/jpeg", None)
    with pytest.raises(MediaRejected, match=r"named \.jpg"):
        processing.check_declared(png, "application/octet-stream", "holiday.jpg")
    with pytest.raises(MediaRejected, match="Unsupported"):
        processing.check_declared(png, "image/svg+xml", None)


async def _process(tmp_path: Path, data: bytes, name: str) -> processing.Processed:
    source = tmp_path / name
    source.write_bytes(data)
    file_type = processing.sniff(data[: processing.SNIFF_BYTES])
    assert file_type is not None
    seen: list[int] = []

    async def progress(percent: int) -> None:
        seen.append(percent)

    limits = processing.Limits(max_pixels=33_177_600, processes=1)
    result = await processing.process_file(source, file_type, tmp_path, progress, limits)
    assert seen == sorted(seen)
    return result


async def test_a_jpeg_is_turned_upright_and_loses_its_exif_and_gps(tmp_path: Path) -> None:
    # Orientation 6: the camera was turned, the stored 120x80 pixels show as 80x120.
    result = await _process(tmp_path, samples.jpeg(120, 80, orientation=6), "in.jpg")
    assert result.kind == "image" and result.file.content_type == "image/jpeg"
    with Image.open(result.file.path) as image:
        assert image.format == "JPEG"
        assert image.size == (80, 120)
        exif = image.getexif()
        assert len(exif) == 0 and not exif.get_ifd(samples.GPS_IFD)
        assert "exif" not in image.info
    assert result.meta["original"] == {"width": 80, "height": 120, "size": "80x120", "aspect": round(80 / 120, 6)}
    assert len(result.blurhash) == 6 + 2 * 15  # 4x4 components


async def test_a_large_image_gets_a_preview_that_fits_640_by_360(tmp_path: Path) -> None:
    result = await _process(tmp_path, samples.png(1600, 1200), "in.png")
    assert result.file.content_type == "image/png"
    with Image.open(result.preview.path) as preview:
        assert preview.format == "JPEG"
        assert preview.size == (480, 360)
    assert result.meta["small"]["width"] == 480 and result.meta["original"]["width"] == 1600


async def test_a_still_gif_becomes_a_png_and_an_animated_one_a_gifv(tmp_path: Path) -> None:
    still = await _process(tmp_path, samples.gif(frames=1), "still.gif")
    assert still.kind == "image" and still.file.content_type == "image/png"
    animated_dir = tmp_path / "animated"
    animated_dir.mkdir()
    animated = await _process(animated_dir, samples.gif(64, 48, frames=10), "anim.gif")
    assert animated.kind == "gifv" and animated.file.content_type == "video/mp4"
    assert animated.meta["width"] == 64 and animated.meta["height"] == 48
    assert animated.meta["original"]["frame_rate"] == "10/1"


async def test_an_mp4_is_remuxed_without_its_location_and_gets_a_poster(tmp_path: Path) -> None:
    result = await _process(tmp_path, samples.mp4(seconds=2.0, size="320x240"), "in.mp4")
    assert result.kind == "video"
    meta = result.meta
    assert (meta["width"], meta["height"]) == (320, 240)
    assert meta["original"]["frame_rate"] == "25/1"
    assert meta["duration"] == pytest.approx(2.0, abs=0.1)
    assert meta["audio_encode"].startswith("aac")
    _, probe = await processing.run_ffmpeg("-i", str(result.file.path))
    assert "location" not in probe and "Video: h264" in probe
    with Image.open(result.preview.path) as preview:
        assert preview.size == (320, 240)


async def test_a_webm_becomes_an_mp4(tmp_path: Path) -> None:
    result = await _process(tmp_path, samples.webm(), "in.webm")
    assert result.kind == "video" and result.file.content_type == "video/mp4"
    assert (result.meta["width"], result.meta["height"]) == (160, 120)
    _, probe = await processing.run_ffmpeg("-i", str(result.file.path))
    assert "Video: vp9" in probe or "Video: h264" in probe


async def test_an_image_over_4k_is_scaled_down_to_the_matrix_limit(tmp_path: Path) -> None:
    result = await _process(tmp_path, samples.png(5000, 2500, alpha=False), "wide.png")
    original = result.meta["original"]
    assert original["width"] * original["height"] <= processing.IMAGE_MATRIX_LIMIT
    assert original["width"] == pytest.approx(2 * original["height"], abs=2)
    with Image.open(result.file.path) as image:
        assert image.size == (original["width"], original["height"])


async def test_a_padded_mp4_keeps_only_its_streams(tmp_path: Path) -> None:
    result = await _process(tmp_path, samples.padded_mp4(3_000_000), "in.mp4")
    assert result.kind == "video" and result.file.path.stat().st_size < 200_000


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (samples.jpeg(400, 300)[:3000], "cut.jpg", "truncated"),
        (b"\xff\xd8\xff" + bytes(200), "fake.jpg", "not a readable"),
        (samples.mp4()[:3000], "cut.mp4", "cannot be read"),
    ],
)
async def test_broken_files_are_refused(tmp_path: Path, data: bytes, name: str, message: str) -> None:
    with pytest.raises(MediaRejected, match=message):
        await _process(tmp_path, data, name)


def test_probe_output_is_parsed_including_a_quarter_turn() -> None:
    log = (
        "  Duration: 00:01:02.50, start: 0.000000, bitrate: 1200 kb/s\n"
        "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), "
        "1920x1080 [SAR 1:1 DAR 16:9], 1100 kb/s, 29.97 fps, 29.97 tbr, 90k tbn (default)\n"
        "      Side data:\n        Display Matrix: rotation of -90.00 degrees\n"
        "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 96 kb/s\n"
    )
    info = processing.parse_probe(log)
    assert (info.width, info.height) == (1080, 1920)
    assert info.duration == pytest.approx(62.5)
    assert processing.frame_rate(info.fps) == "30000/1001"
    assert info.bitrate == 1_200_000 and info.audio is not None
    with pytest.raises(MediaRejected, match="no video"):
        processing.parse_probe("  Stream #0:0: Audio: mp3, 44100 Hz\n")
