"""Turning uploaded bytes into the files clients see: sniffing, checking, and processing media.

Nothing here trusts what the client declared: the real type comes from the file's first bytes, a declared
type or file name that disagrees is refused, and every image is decoded and re-encoded (dropping EXIF and
GPS) while every video is re-muxed without its metadata. Images are Pillow work: their declared size is
checked from the header first, then they decode in a bounded process pool (domain/image_decoding.py), a
large JPEG at a reduced scale (`draft`); video is ffmpeg (the binary pip's imageio-ffmpeg ships), run as a
subprocess with a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from config import Settings
from domain import blurhash, image_decoding

# The preview (Mastodon's `small`) fits in this box; a smaller original is not enlarged.
PREVIEW_BOX = (640, 360)
# Larger images are scaled down to this many pixels, as Mastodon does (its `image_matrix_limit`: 4K).
IMAGE_MATRIX_LIMIT = 3840 * 2160
MAX_VIDEO_SIDE = 8192
FFMPEG_TIMEOUT = 600.0
BLURHASH_SAMPLE = (32, 32)


class MediaRejected(Exception):
    """The upload itself is at fault (wrong type, too big, corrupt): it fails for good, never retried.

    `code` and `name` are what Twitter's STATUS shows in `processing_info.error`.
    """

    def __init__(self, message: str, *, code: int = 1, name: str = "InvalidMedia") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.name = name


def too_large(limit: int) -> MediaRejected:
    return MediaRejected(f"File size exceeds {limit} bytes.", code=3, name="FileSizeExceeded")


@dataclass(frozen=True)
class FileType:
    """What a file really is, from its bytes."""

    family: str  # jpeg, png, gif, webp, mp4, webm
    mime: str
    extension: str

    @property
    def limit_class(self) -> str:
        """Which size limit applies: image, gif or video."""
        return LIMIT_CLASSES.get(self.family, "image")


LIMIT_CLASSES: Mapping[str, str] = {"gif": "gif", "mp4": "video", "webm": "video"}
VIDEO_FAMILIES = frozenset({"mp4", "webm"})


def size_limits(settings: Settings) -> dict[str, int]:
    """Bytes allowed per limit class (configurable; Twitter's by default)."""
    return {
        "image": settings.media_image_max_bytes,
        "gif": settings.media_gif_max_bytes,
        "video": settings.media_video_max_bytes,
    }


JPEG = FileType("jpeg", "image/jpeg", "jpg")
PNG = FileType("png", "image/png", "png")
GIF = FileType("gif", "image/gif", "gif")
WEBP = FileType("webp", "image/webp", "webp")
MP4 = FileType("mp4", "video/mp4", "mp4")
MOV = FileType("mp4", "video/quicktime", "mov")  # same ISO base media family: one set of tools for both
WEBM = FileType("webm", "video/webm", "webm")
# Every type Chirp takes, as the instance entity advertises them.
ACCEPTED_TYPES = (JPEG, PNG, GIF, WEBP, MP4, MOV, WEBM)

# Declared types clients may send, by the family their bytes must then be.
DECLARED_FAMILIES: Mapping[str, str] = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/quicktime": "mp4",
    "video/x-m4v": "mp4",
    "video/webm": "webm",
}
# Types that say nothing about the content: the bytes alone decide.
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
EXTENSION_FAMILIES: Mapping[str, str] = {
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "jpe": "jpeg",
    "png": "png",
    "gif": "gif",
    "webp": "webp",
    "mp4": "mp4",
    "m4v": "mp4",
    "mov": "mp4",
    "webm": "webm",
}
SNIFF_BYTES = 32


def sniff(head: bytes) -> FileType | None:
    """The type of a file from its first bytes (at least SNIFF_BYTES of them), or None when not one we take."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return MOV
        if brand[:3] not in (b"hei", b"hev", b"avi", b"mif", b"msf"):  # HEIF/AVIF images share the box format
            return MP4
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head:  # EBML, with the WebM doctype
        return WEBM
    return None


def limit_for(file_type: FileType | str, limits: Mapping[str, int]) -> int:
    """The size limit of a type (or of a limit class: image, gif, video)."""
    name = file_type if isinstance(file_type, str) else file_type.limit_class
    return limits[name]


def declared_limit_class(declared_type: str) -> str | None:
    family = DECLARED_FAMILIES.get(declared_type.lower())
    if family is None:
        return None
    return LIMIT_CLASSES.get(family, "image")


def check_declared(actual: FileType, declared_type: str | None, file_name: str | None) -> None:
    """Refuse a file whose declared type or file extension names another type than its bytes are."""
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared not in GENERIC_TYPES:
        expected = DECLARED_FAMILIES.get(declared)
        if expected is None:
            raise MediaRejected(f"Unsupported media type {declared}.")
        if expected != actual.family:
            raise MediaRejected(f"The file was declared as {declared} but is {actual.mime}.")
    if file_name and "." in file_name:
        extension = file_name.rsplit(".", 1)[1].lower()
        expected = EXTENSION_FAMILIES.get(extension)
        if expected is not None and expected != actual.family:
            raise MediaRejected(f"The file is named .{extension} but is {actual.mime}.")


# Results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """A file to publish: where it is on local disk, and what it is."""

    path: Path
    content_type: str
    extension: str


@dataclass(frozen=True)
class Processed:
    kind: str  # image, gifv, video (Mastodon's attachment types)
    file: Output
    preview: Output
    meta: dict[str, Any]
    blurhash: str


def _dimensions(width: int, height: int) -> dict[str, Any]:
    return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": round(width / height, 6)}


# Images ----------------------------------------------------------------------------------------------

_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP"}


def too_many_pixels(max_pixels: int) -> MediaRejected:
    return MediaRejected(f"Images may have at most {max_pixels} pixels.", code=3, name="ImageTooLarge")


async def check_pixels(path: Path, file_type: FileType, max_pixels: int) -> None:
    """Refuse an image whose header declares too many pixels, before anything decodes it."""
    if file_type.family in VIDEO_FAMILIES:
        return
    size = await asyncio.to_thread(image_decoding.declared_pixels, path)
    if size is None:
        raise MediaRejected(f"The file is not a readable {file_type.mime} image.")
    width, height = size
    if width < 1 or height < 1 or width * height > max_pixels:
        raise too_many_pixels(max_pixels)


def open_image(path: Path, file_type: FileType, max_pixels: int) -> Image.Image:
    """Open and fully decode an image, refusing what is not the type its bytes claim or is too big."""
    try:
        image = Image.open(path)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise MediaRejected(f"The file is not a readable {file_type.mime} image.") from exc
    if image.format != _PIL_FORMATS.get(file_type.family):
        image.close()
        raise MediaRejected(f"The file is not a readable {file_type.mime} image.")
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        image.close()
        raise too_many_pixels(max_pixels)
    if image.format == "JPEG" and width * height > IMAGE_MATRIX_LIMIT:
        # It is scaled down to the matrix limit anyway: let libjpeg decode at 1/2, 1/4 or 1/8 scale.
        scale = (IMAGE_MATRIX_LIMIT / (width * height)) ** 0.5
        image.draft(None, (max(1, int(width * scale)), max(1, int(height * scale))))
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        image.close()
        raise MediaRejected(f"The file is not a readable {file_type.mime} image (it may be truncated).") from exc
    return image


def blurhash_of(image: Image.Image) -> str:
    sample = image.convert("RGB")
    sample.thumbnail(BLURHASH_SAMPLE)
    data = sample.tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3], strict=True))
    return blurhash.encode(pixels, sample.width, sample.height)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for JPEG: transparent areas go white, as browsers show them on a light page."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def write_preview(image: Image.Image, path: Path) -> dict[str, Any]:
    """A JPEG no larger than PREVIEW_BOX; returns its dimensions for `meta.small`."""
    # reduce() by a whole factor first (a cheap box filter into a small copy), then LANCZOS on what is left.
    factor = max(1, min(image.width // (PREVIEW_BOX[0] * 2), image.height // (PREVIEW_BOX[1] * 2)))
    base = image if image.mode in ("RGB", "RGBA", "L", "LA") else _flatten(image)
    preview = base.reduce(factor) if factor > 1 else base.copy()
    preview.thumbnail(PREVIEW_BOX, Image.Resampling.LANCZOS)
    preview = _flatten(preview)
    preview.save(path, "JPEG", quality=80, optimize=True)
    return _dimensions(preview.width, preview.height)


def process_image(source: Path, file_type: FileType, workdir: Path, max_pixels: int) -> Processed:
    """Decode, apply and drop the EXIF orientation, re-encode without metadata; preview and blurhash."""
    with open_image(source, file_type, max_pixels) as decoded:
        icc_profile = decoded.info.get("icc_profile")
        # Orientation is applied to the pixels, so no EXIF (nor GPS, nor XMP) needs to survive.
        upright = ImageOps.exif_transpose(decoded) or decoded
        upright.info.pop("exif", None)
        upright.info.pop("xmp", None)
        if upright.width * upright.height > IMAGE_MATRIX_LIMIT:
            scale = (IMAGE_MATRIX_LIMIT / (upright.width * upright.height)) ** 0.5
            size = (max(1, int(upright.width * scale)), max(1, int(upright.height * scale)))
            upright = upright.resize(size, Image.Resampling.LANCZOS)
        out_type = PNG if file_type.family == "gif" else file_type  # a still GIF is better as PNG
        target = workdir / f"original.{out_type.extension}"
        save_args: dict[str, Any] = {"icc_profile": icc_profile} if icc_profile else {}
        if out_type.family == "jpeg":
            image = upright if upright.mode in ("RGB", "L") else _flatten(upright)
            image.save(target, "JPEG", quality=90, optimize=True, progressive=True, **save_args)
        elif out_type.family == "png":
            image = upright if upright.mode in ("RGB", "RGBA", "L", "LA", "P") else upright.convert("RGBA")
            image.save(target, "PNG", **save_args)
        else:
            image = upright.convert("RGBA" if upright.mode in ("RGBA", "LA", "P") else "RGB")
            image.save(target, "WEBP", quality=90, **save_args)
        preview_path = workdir / "small.jpg"
        small = write_preview(upright, preview_path)
        hash_ = blurhash_of(upright)
        meta = {"original": _dimensions(upright.width, upright.height), "small": small}
    return Processed(
        kind="image",
        file=Output(target, out_type.mime, out_type.extension),
        preview=Output(preview_path, "image/jpeg", "jpg"),
        meta=meta,
        blurhash=hash_,
    )


def gif_is_animated(source: Path, max_pixels: int) -> bool:
    with open_image(source, GIF, max_pixels) as image:
        return bool(getattr(image, "is_animated", False))


def preview_from_frame(frame: Path, workdir: Path) -> tuple[Output, dict[str, Any], str]:
    """The preview and blurhash of a video, from its poster frame."""
    try:
        image = Image.open(frame)
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise MediaRejected("No frame of the video could be decoded.") from exc
    with image:
        path = workdir / "small.jpg"
        small = write_preview(image, path)
        return Output(path, "image/jpeg", "jpg"), small, blurhash_of(image)


# Video (ffmpeg) --------------------------------------------------------------------------------------


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    duration: float
    fps: float | None
    bitrate: int | None  # bits per second
    video_codec: str
    audio: str | None  # the audio stream's description, when there is one


_DURATION = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_BITRATE = re.compile(r"bitrate: (\d+) kb/s")
_VIDEO_STREAM = re.compile(r"Stream #0:\d+[^:]*: Video: ([^\n]*)")
_AUDIO_STREAM = re.compile(r"Stream #0:\d+[^:]*: Audio: ([^\n]*)")
_SIZE = re.compile(r"(?:^|[ ,])(\d{1,5})x(\d{1,5})(?=[ ,\[]|$)")
_FPS = re.compile(r"([\d.]+)(k?) fps")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")


def parse_probe(text: str) -> VideoInfo:
    """What `ffmpeg -i` says about a file (stderr), for files that have a video stream."""
    video = _VIDEO_STREAM.search(text)
    if video is None:
        raise MediaRejected("The file has no video stream.")
    description = video.group(1)
    size = _SIZE.search(description)
    if size is None:
        raise MediaRejected("The video's frame size cannot be read.")
    width, height = int(size.group(1)), int(size.group(2))
    rotation = _ROTATION.search(text[video.end() :].split("Stream #", 1)[0])
    if rotation is not None and round(abs(float(rotation.group(1)))) % 180 == 90:
        width, height = height, width  # shown turned a quarter: players swap the sides
    duration_match = _DURATION.search(text)
    duration = 0.0
    if duration_match is not None:
        hours, minutes, seconds = duration_match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    fps_match = _FPS.search(description)
    fps = None
    if fps_match is not None:
        fps = float(fps_match.group(1)) * (1000 if fps_match.group(2) else 1)
    bitrate_match = _BITRATE.search(text)
    audio = _AUDIO_STREAM.search(text)
    return VideoInfo(
        width=width,
        height=height,
        duration=duration,
        fps=fps,
        bitrate=int(bitrate_match.group(1)) * 1000 if bitrate_match else None,
        video_codec=description.split(" ", 1)[0].rstrip(","),
        audio=audio.group(1) if audio else None,
    )


async def run_ffmpeg(*args: str, limit_seconds: float = FFMPEG_TIMEOUT) -> tuple[int, str]:
    """Run ffmpeg with `args`; returns its exit status and the tail of its log. Killed after `limit_seconds`."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), limit_seconds)
    except TimeoutError:
        await _reap(process)
        raise MediaRejected(f"Processing took longer than {limit_seconds:g} s.") from None
    except asyncio.CancelledError:
        await _reap(process)
        raise
    return process.returncode or 0, stderr.decode("utf-8", "replace")[-20_000:]


async def _reap(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


async def probe_video(path: Path) -> VideoInfo:
    _, log = await run_ffmpeg("-i", str(path))  # exits 1 ("no output file"), having described the input
    if "Invalid data found" in log or "moov atom not found" in log:
        raise MediaRejected("The video cannot be read (it may be truncated or corrupt).")
    info = parse_probe(log)
    if not (0 < info.width <= MAX_VIDEO_SIDE and 0 < info.height <= MAX_VIDEO_SIDE):
        raise MediaRejected(f"Videos may be at most {MAX_VIDEO_SIDE} pixels on a side.")
    return info


def frame_rate(fps: float | None) -> str | None:
    """A frame rate as the fraction Mastodon shows; ffmpeg prints NTSC rates rounded (29.97 for 30000/1001)."""
    if not fps:
        return None
    ntsc = round(fps * 1.001)
    if abs(fps - round(fps)) > 0.005 and abs(fps - ntsc * 1000 / 1001) < 0.006:
        return f"{ntsc * 1000}/1001"
    rate = Fraction(fps).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


def video_meta(info: VideoInfo, small: dict[str, Any]) -> dict[str, Any]:
    """Mastodon's video `meta`: the top-level summary, `original` and `small`."""
    whole, fraction = divmod(info.duration, 1)
    minutes, seconds = divmod(int(whole), 60)
    hours, minutes = divmod(minutes, 60)
    meta: dict[str, Any] = {
        "length": f"{hours}:{minutes:02d}:{seconds:02d}.{round(fraction * 100):02d}"[:10],
        "duration": round(info.duration, 3),
        "fps": round(info.fps) if info.fps else None,
        **_dimensions(info.width, info.height),
        "original": {
            "width": info.width,
            "height": info.height,
            "frame_rate": frame_rate(info.fps),
            "duration": round(info.duration, 3),
            "bitrate": info.bitrate,
        },
        "small": small,
    }
    if info.audio:
        meta["audio_encode"] = info.audio.split(",", 1)[0]
    return meta


_STRIP = ("-map_metadata", "-1", "-map_chapters", "-1", "-movflags", "+faststart")


async def remux_video(source: Path, target: Path) -> None:
    """Copy the first video and audio streams into a fresh MP4 without metadata (GPS lives there);
    transcode to H.264/AAC only when the codecs cannot go into MP4 as they are."""
    streams = ("-map", "0:v:0", "-map", "0:a:0?")
    status, _ = await run_ffmpeg("-y", "-i", str(source), *streams, "-c", "copy", *_STRIP, str(target))
    if status == 0:
        return
    status, log = await run_ffmpeg(
        "-y", "-i", str(source), *streams,
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:a", "aac", *_STRIP, str(target),
    )  # fmt: skip
    if status != 0:
        raise MediaRejected("The video could not be converted: " + log.strip().splitlines()[-1][:200])


async def gif_to_mp4(source: Path, target: Path) -> None:
    """An animated GIF as the looping H.264 video Mastodon calls `gifv`."""
    status, log = await run_ffmpeg(
        "-y", "-i", str(source),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-an", *_STRIP, str(target),
    )  # fmt: skip
    if status != 0:
        raise MediaRejected("The GIF could not be converted: " + log.strip().splitlines()[-1][:200])


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


async def poster_frame(video: Path, target: Path, duration: float) -> None:
    """A still from early in the video (the first frame can be black), as PNG."""
    for offset in (min(1.0, duration / 3), 0.0):
        status, _ = await run_ffmpeg(
            "-y", "-ss", f"{offset:.3f}", "-i", str(video), "-frames:v", "1", "-f", "image2", "-c:v", "png",
            str(target),
        )  # fmt: skip
        if status == 0 and _nonempty(target):
            return
    raise MediaRejected("No frame of the video could be decoded.")


# The whole job ------------------------------------------------------------------------------------------

Progress = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """How much image work one file may cause: pixels it may declare, processes it may decode in."""

    max_pixels: int
    processes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.media_max_pixels, settings.media_decode_processes)


async def process_file(
    source: Path, file_type: FileType, workdir: Path, progress: Progress, limits: Limits
) -> Processed:
    """Everything between checked bytes and publishable files. CPU-heavy parts run off the event loop,
    images in the decoding processes and only once their header's size is known to be within the limit."""
    if file_type.family in VIDEO_FAMILIES:
        return await _process_video(source, workdir, progress, limits)
    await check_pixels(source, file_type, limits.max_pixels)
    decode = image_decoding.decode
    if file_type.family == "gif" and await decode(limits.processes, gif_is_animated, source, limits.max_pixels):
        return await _process_animated_gif(source, workdir, progress, limits)
    await progress(50)
    return await decode(limits.processes, process_image, source, file_type, workdir, limits.max_pixels)


async def _process_video(source: Path, workdir: Path, progress: Progress, limits: Limits) -> Processed:
    info = await probe_video(source)
    await progress(40)
    target = workdir / "original.mp4"
    await remux_video(source, target)
    await progress(70)
    return await _video_result("video", target, info, workdir, progress, limits)


async def _process_animated_gif(source: Path, workdir: Path, progress: Progress, limits: Limits) -> Processed:
    target = workdir / "original.mp4"
    await gif_to_mp4(source, target)
    await progress(70)
    info = await probe_video(target)
    return await _video_result("gifv", target, info, workdir, progress, limits)


async def _video_result(
    kind: str, video: Path, info: VideoInfo, workdir: Path, progress: Progress, limits: Limits
) -> Processed:
    frame = workdir / "poster.png"
    await poster_frame(video, frame, info.duration)
    await progress(85)
    preview, small, hash_ = await image_decoding.decode(limits.processes, preview_from_frame, frame, workdir)
    return Processed(
        kind=kind,
        file=Output(video, "video/mp4", "mp4"),
        preview=preview,
        meta=video_meta(info, small),
        blurhash=hash_,
    )
