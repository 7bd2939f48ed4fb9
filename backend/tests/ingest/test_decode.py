"""decode_image / decode_base64 on real files: formats, orientation, frames, alpha, limits."""

from __future__ import annotations

import base64
import dataclasses
import io
import pickle
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from tests.ingest.conftest import encode, make_image
from visearch.ingest.decode import (
    SUPPORTED_FORMATS,
    DecodedImage,
    ImageError,
    decode_base64,
    decode_image,
)

MB = 1024 * 1024
LIMITS = {"max_bytes": 25 * MB, "max_pixels": 64_000_000}
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def decode(data: bytes, **overrides: int) -> DecodedImage:
    return decode_image(data, **{**LIMITS, **overrides})


def error_of(data: bytes, **overrides: int) -> ImageError:
    with pytest.raises(ImageError) as info:
        decode(data, **overrides)
    return info.value


def red(out: DecodedImage, x: int, y: int) -> int:
    pixel = out.image.getpixel((x, y))
    assert isinstance(pixel, tuple)
    return int(pixel[0])


def close_to(pixel: object, expected: tuple[int, int, int], tol: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tol for a, b in zip(pixel, expected, strict=True))


def png_header(width: int, height: int, *, bit_depth: int = 8, color_type: int = 2) -> bytes:
    """A PNG whose IHDR claims width x height, with a token IDAT: bytes, not pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(
    ("pil_format", "name", "options"),
    [
        ("JPEG", "jpeg", {"quality": 90}),
        ("PNG", "png", {}),
        ("WEBP", "webp", {"quality": 90}),
        ("GIF", "gif", {}),
        ("BMP", "bmp", {}),
        ("TIFF", "tiff", {"compression": "tiff_lzw"}),
    ],
)
def test_every_supported_format_decodes_to_rgb(pil_format: str, name: str, options: dict) -> None:
    data = encode(make_image((64, 48)), pil_format, **options)
    out = decode(data)
    assert out.format == name
    assert (out.width, out.height) == (64, 48) == out.image.size
    assert out.image.mode == "RGB"
    assert out.nbytes == len(data)
    # Content survived: the gradient's corners differ in the red channel.
    assert red(out, 0, 0) < 60 < 200 < red(out, 63, 0)


def test_supported_formats_list() -> None:
    assert set(SUPPORTED_FORMATS) == {"jpeg", "png", "webp", "gif", "bmp", "tiff"}


def test_real_photos_decode(clothing_images: list[Path]) -> None:
    for path in clothing_images[::20]:  # one per class
        data = path.read_bytes()
        out = decode(data)
        with Image.open(path) as ref:
            assert (out.width, out.height) == ref.size
        assert out.format == "jpeg"
        assert out.image.mode == "RGB"
        assert min(out.width, out.height) == 224


def test_exif_orientation_is_applied() -> None:
    # Stored 40x20: left half red, right half blue. Orientation 6 = rotate 90 deg clockwise
    # to display, so the displayed image is 20x40 with red on top.
    img = Image.new("RGB", (40, 20), RED)
    img.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = decode(encode(img, "JPEG", quality=95, exif=exif.tobytes()))
    assert (out.width, out.height) == (20, 40) == out.image.size
    assert close_to(out.image.getpixel((10, 5)), RED)
    assert close_to(out.image.getpixel((10, 35)), BLUE)


def test_broken_exif_keeps_the_image() -> None:
    img = make_image((30, 20))
    out = decode(encode(img, "JPEG", exif=b"Exif\x00\x00garbage-that-is-not-tiff"))
    assert (out.width, out.height) == (30, 20)


def test_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    with Image.open(io.BytesIO(data)) as check:
        assert getattr(check, "n_frames", 1) == 2
    out = decode(data)
    assert out.format == "gif"
    assert close_to(out.image.getpixel((8, 8)), RED)


def test_animated_webp_gives_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    out = decode(data)
    assert out.format == "webp"
    assert out.image.mode == "RGB"
    assert close_to(out.image.getpixel((8, 8)), RED, tol=5)


def test_alpha_is_composited_on_white() -> None:
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 5, 10))
    out = decode(encode(rgba, "PNG"))
    assert out.image.mode == "RGB"
    assert out.image.getpixel((7, 5)) == WHITE
    assert out.image.getpixel((2, 5)) == RED


@pytest.mark.parametrize("mode", ["LA", "P"])
def test_other_transparent_modes_become_white(mode: str) -> None:
    if mode == "LA":
        img = Image.new("LA", (8, 8), (0, 0))
        data = encode(img, "PNG")
    else:
        img = Image.new("P", (8, 8), 3)
        img.putpalette([0, 0, 0] * 256)
        data = encode(img, "GIF", transparency=3)
    out = decode(data)
    assert out.image.mode == "RGB"
    assert out.image.getpixel((4, 4)) == WHITE


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    img = Image.new("I;16", (4, 1))
    for x, v in enumerate((0, 16384, 32768, 65535)):
        img.putpixel((x, 0), v)
    out = decode(encode(img, "PNG"))
    values = [red(out, x, 0) for x in range(4)]
    assert values == [0, 64, 128, 255]


def test_cmyk_jpeg_becomes_rgb() -> None:
    out = decode(encode(make_image((20, 20), "CMYK"), "JPEG"))
    assert out.image.mode == "RGB"


def test_truncated_jpeg_is_corrupt(clothing_images: list[Path]) -> None:
    data = clothing_images[0].read_bytes()
    err = error_of(data[: len(data) // 2])
    assert err.code == "corrupt"
    assert err.status in (400, 422)
    assert "truncated" in err.message


def test_truncated_png_is_corrupt() -> None:
    data = encode(make_image((64, 64)), "PNG")
    assert error_of(data[: len(data) - 40]).code == "corrupt"


@pytest.mark.filterwarnings("ignore:.*:UserWarning")  # PIL's TIFF parser warns on cut data
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF"])
@pytest.mark.parametrize("keep", [12, 30, 0.5])
def test_file_cut_inside_its_header_is_corrupt_not_unsupported(fmt: str, keep: float) -> None:
    data = encode(make_image((64, 48)), fmt)
    err = error_of(data[: int(keep * len(data)) if keep < 1 else int(keep)])
    assert (err.code, err.status) == ("corrupt", 422)


def test_text_named_jpg_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_text("<html><body>not an image</body></html>\n")
    err = error_of(path.read_bytes())
    assert (err.code, err.status) == ("unsupported_format", 415)


@pytest.mark.parametrize(("pil_format", "options"), [("ICO", {}), ("PPM", {}), ("PCX", {})])
def test_real_images_in_other_formats_are_unsupported(pil_format: str, options: dict) -> None:
    err = error_of(encode(make_image((32, 32)), pil_format, **options))
    assert (err.code, err.status) == ("unsupported_format", 415)


def test_empty_bytes() -> None:
    err = error_of(b"")
    assert (err.code, err.status) == ("empty", 400)


def test_max_bytes() -> None:
    data = encode(make_image((64, 64)), "PNG")
    err = error_of(data, max_bytes=len(data) - 1)
    assert (err.code, err.status) == ("too_large", 413)
    assert decode(data, max_bytes=len(data)).width == 64


def test_decompression_bomb_header_is_rejected_without_decoding() -> None:
    data = png_header(20_000, 20_000)  # 400 Mpx claimed by a ~100-byte file
    assert len(data) < 200
    err = error_of(data)
    assert (err.code, err.status) == ("too_many_pixels", 413)


def test_pixel_limit_below_pils_own_limit() -> None:
    # 9000 x 9000 = 81 Mpx: over our 64 Mpx default, under PIL's 89 Mpx warning level.
    err = error_of(png_header(9000, 9000))
    assert err.code == "too_many_pixels"
    assert "81000000" in err.message
    err = error_of(encode(make_image((100, 100)), "PNG"), max_pixels=9999)
    assert err.code == "too_many_pixels"
    assert decode(encode(make_image((100, 100)), "PNG"), max_pixels=10_000).width == 100


def test_pil_globals_are_left_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    decode(encode(make_image(), "PNG"))
    error_of(png_header(20_000, 20_000))
    assert before == Image.MAX_IMAGE_PIXELS
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_decoded_image_is_frozen() -> None:
    out = decode(encode(make_image(), "PNG"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.width = 1  # type: ignore[misc]


def test_error_is_a_value_error_with_fields() -> None:
    err = error_of(b"")
    assert isinstance(err, ValueError)
    assert str(err) == err.message
    assert "empty" in repr(err)
    copy = pickle.loads(pickle.dumps(err))
    assert (type(copy), copy.code, copy.status, copy.message) == (
        ImageError, err.code, err.status, err.message)


# --- base64 -------------------------------------------------------------------------------


def test_base64_plain_and_data_url() -> None:
    data = encode(make_image(), "PNG")
    b64 = base64.b64encode(data).decode()
    assert decode_base64(b64) == data
    assert decode_base64(f"data:image/png;base64,{b64}") == data
    assert decode_base64(f"  DATA:image/PNG;BASE64,{b64}\n") == data
    assert decode_base64(f"data:;base64,{b64}") == data


def test_base64_whitespace_urlsafe_and_missing_padding() -> None:
    data = bytes(range(256)) * 3 + b"xy"  # needs padding and has + and / in base64
    b64 = base64.b64encode(data).decode()
    wrapped = "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    assert decode_base64(wrapped) == data
    urlsafe = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert decode_base64(urlsafe) == data


@pytest.mark.parametrize(
    "text",
    [
        "not base64 at all!",
        "QUJD$",
        "A",
        "data:image/png;base64",  # no comma
        "data:image/png,iVBORw0KGgo=",  # not base64-encoded
        "data:text/html;base64,PGh0bWw+",
    ],
)
def test_bad_base64(text: str) -> None:
    with pytest.raises(ImageError) as info:
        decode_base64(text)
    assert (info.value.code, info.value.status) == ("invalid_base64", 400)


def test_empty_base64() -> None:
    for text in ("", "   ", "data:image/png;base64,"):
        with pytest.raises(ImageError) as info:
            decode_base64(text)
        assert info.value.code == "empty"


def test_base64_then_decode_round_trip() -> None:
    data = encode(make_image((33, 17)), "WEBP")
    out = decode(decode_base64("data:image/webp;base64," + base64.b64encode(data).decode()))
    assert (out.format, out.width, out.height) == ("webp", 33, 17)
