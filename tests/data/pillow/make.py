"""Writes one small picture in many format variants with Pillow, and Pillow's view of each.

For every FILE: FILE itself (saved by Pillow, some then edited into shapes Pillow does not
write) and FILE.rgb, the bytes of
`Image.open(FILE).convert("RGB")`, the decoding the PDQ reference hashes were made with;
expected.txt lists `FILE WIDTH HEIGHT PILLOW_MODE` per file.

    python3 -m venv /tmp/pv && /tmp/pv/bin/pip install pillow==13.0.0 numpy simplejpeg==1.9.0
    /tmp/pv/bin/python tests/data/pillow/make.py tests/data/pillow
"""
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image


def cut_palette(path):
    """Drops the last byte of the PNG's PLTE chunk (CRC recomputed): a palette that ends
    inside an entry, which Pillow reads as the whole entries before it."""
    with open(path, "rb") as f:
        data = f.read()
    out, at = bytearray(data[:8]), 8
    while at < len(data):
        (n,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + n]
        if kind == b"PLTE":
            body = body[:-1]
        out += struct.pack(">I", len(body)) + kind + body
        out += struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        at += 12 + n
    with open(path, "wb") as f:
        f.write(out)


def repack_palette(bits, packbits=False):
    """An edit that rewrites a Pillow palette TIFF (always 8 bits per index) with `bits`-bit
    indices, rows packed high bits first and padded to whole bytes, the colour map cut to
    2**bits entries and, with `packbits`, each row PackBits-compressed as literal runs. At 1
    bit, BitsPerSample is left out: 1 is its default."""

    def edit(path):
        with Image.open(path) as im:
            indices = np.array(im) & ((1 << bits) - 1)
            palette = im.getpalette()[: 3 << bits]
        per_byte = 8 // bits
        rows = []
        for row in indices:
            row = np.concatenate([row, np.zeros(-len(row) % per_byte, row.dtype)])
            shifts = 8 - bits * (1 + np.arange(per_byte))
            packed = (row.reshape(-1, per_byte).astype(np.uint8) << shifts).sum(1)
            row = packed.astype(np.uint8).tobytes()
            if packbits:
                row = b"".join(
                    bytes([len(row[i : i + 128]) - 1]) + row[i : i + 128]
                    for i in range(0, len(row), 128)
                )
            rows.append(row)
        data = b"".join(rows)
        # 16-bit entries: all reds, then all greens, then all blues.
        colours = [palette[c::3][i] * 257 for c in range(3) for i in range(1 << bits)]
        colour_map = struct.pack(f"<{len(colours)}H", *colours)
        h, w = indices.shape
        data_at, map_at = 8, 8 + len(data) + len(data) % 2
        ifd_at = map_at + len(colour_map)
        long, short = 4, 3
        entries = [
            (256, long, 1, w),
            (257, long, 1, h),
            *([(258, short, 1, bits)] if bits > 1 else []),
            (259, short, 1, 32773 if packbits else 1),
            (262, short, 1, 3),
            (273, long, 1, data_at),
            (277, short, 1, 1),
            (278, long, 1, h),
            (279, long, 1, len(data)),
            (320, short, len(colours), map_at),
        ]
        ifd = struct.pack("<H", len(entries))
        for tag, kind, count, value in entries:
            packed = struct.pack("<H" if kind == short and count == 1 else "<I", value)
            ifd += struct.pack("<HHI", tag, kind, count) + packed.ljust(4, b"\0")
        ifd += struct.pack("<I", 0)
        with open(path, "wb") as f:
            f.write(b"II*\0" + struct.pack("<I", ifd_at))
            f.write(data.ljust(map_at - data_at, b"\0") + colour_map + ifd)

    return edit


def tag_past_end(tag):
    """An edit that makes the count of a little-endian TIFF's `tag` entry claim 2**30 values,
    far past the end of the file; Pillow skips such an entry (as if absent)."""

    def edit(path):
        with open(path, "rb") as f:
            data = bytearray(f.read())
        (ifd,) = struct.unpack("<I", data[4:8])
        (count,) = struct.unpack("<H", data[ifd : ifd + 2])
        for e in range(ifd + 2, ifd + 2 + 12 * count, 12):
            if struct.unpack("<H", data[e : e + 2])[0] == tag:
                data[e + 4 : e + 12] = struct.pack("<II", 1 << 30, 8)
        with open(path, "wb") as f:
            f.write(data)

    return edit


def first_frame_offset_blended(dx, dy):
    """Grows an animated WebP's canvas by dx × dy (even) and moves its first frame there, with the
    frame's blend flag set: Pillow (libwebp) copies a first frame onto a transparent canvas
    without blending, so uncovered pixels are black and translucent ones keep their colour."""

    def edit(path):
        with open(path, "rb") as f:
            d = bytearray(f.read())
        pos, first = 12, True
        while pos + 8 <= len(d):
            fourcc = bytes(d[pos:pos + 4])
            size = struct.unpack("<I", d[pos + 4:pos + 8])[0]
            body = pos + 8
            if fourcc == b"VP8X":
                for at, grow in ((body + 4, dx), (body + 7, dy)):
                    side = int.from_bytes(d[at:at + 3], "little") + grow
                    d[at:at + 3] = side.to_bytes(3, "little")
            elif fourcc == b"ANMF" and first:
                # X / 2 and Y / 2, then width − 1, height − 1, duration and the flags byte,
                # whose bit 1 set means "do not blend".
                d[body:body + 3] = (dx // 2).to_bytes(3, "little")
                d[body + 3:body + 6] = (dy // 2).to_bytes(3, "little")
                d[body + 15] &= ~2 & 0xFF
                first = False
            pos = body + size + (size & 1)
        with open(path, "wb") as f:
            f.write(d)

    return edit


def jpeg_subsampled(factors):
    """An edit that re-encodes the saved picture as a JPEG with chroma subsampling `factors`
    ("411" or "440", which Pillow does not write), through simplejpeg's libjpeg-turbo."""

    def edit(path):
        import simplejpeg

        with Image.open(path) as im:
            rgb = np.ascontiguousarray(np.array(im.convert("RGB")))
        data = simplejpeg.encode_jpeg(rgb, quality=90, colorspace="RGB", colorsubsampling=factors)
        with open(path, "wb") as f:
            f.write(data)

    return edit


def main(out):
    rng = np.random.default_rng(3)
    h, w = 31, 43
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 5) % 256, (yy * 8) % 256, ((xx + yy) * 4) % 256], -1).astype(np.uint8)
    rgb = (base // 2 + rng.integers(0, 40, size=base.shape, dtype=np.uint8)).astype(np.uint8)
    alpha = ((xx * 9 + yy * 5) % 256).astype(np.uint8)
    im = Image.fromarray(rgb)
    ima = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    grey16 = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257 + 3)
    palette = im.convert("P", palette=Image.ADAPTIVE, colors=16)
    # A second frame for the animated files; their first frame is what is hashed.
    second = dict(save_all=True, duration=100, append_images=[Image.fromarray(255 - rgb)])
    second_rgba = dict(second, append_images=[Image.fromarray(255 - rgb).convert("RGBA")])
    cases = [
        ("jpeg_422_progressive.jpg", im, dict(format="JPEG", subsampling=1, progressive=True)),
        ("jpeg_411.jpg", im, dict(format="JPEG"), jpeg_subsampled("411")),
        ("jpeg_440.jpg", im, dict(format="JPEG"), jpeg_subsampled("440")),
        ("webp_lossy.webp", im, dict(format="WEBP", quality=80)),
        ("webp_lossy_alpha.webp", ima, dict(format="WEBP", quality=80)),
        ("webp_lossless_alpha.webp", ima, dict(format="WEBP", lossless=True)),
        ("webp_animated.webp", im, dict(format="WEBP", quality=80, **second)),
        ("webp_animated_alpha.webp", ima, dict(format="WEBP", lossless=True, **second_rgba)),
        ("webp_animated_offset.webp", ima, dict(format="WEBP", lossless=True, exact=True,
                                                 **second_rgba), first_frame_offset_blended(8, 6)),
        ("png_rgba.png", ima, dict(format="PNG")),
        ("png_palette_trns.png", palette, dict(format="PNG", transparency=3)),
        ("png_la.png", ima.convert("LA"), dict(format="PNG")),
        ("png_grey16.png", grey16, dict(format="PNG")),
        ("png_1bit.png", im.convert("1"), dict(format="PNG")),
        ("png_palette_partial.png", palette, dict(format="PNG"), cut_palette),
        ("png_animated.png", im, dict(format="PNG", **second)),
        # The first image is the default image, outside the animation.
        ("png_animated_default.png", im, dict(format="PNG", default_image=True, **second)),
        ("bmp_rgb.bmp", im, dict(format="BMP")),
        ("bmp_palette.bmp", palette, dict(format="BMP")),
        ("tiff_rgb.tif", im, dict(format="TIFF")),
        ("tiff_rgba.tif", ima, dict(format="TIFF")),
        ("tiff_lzw.tif", im, dict(format="TIFF", compression="tiff_lzw")),
        ("tiff_deflate.tif", im, dict(format="TIFF", compression="tiff_adobe_deflate")),
        ("tiff_cmyk.tif", im.convert("CMYK"), dict(format="TIFF")),
        ("tiff_grey16.tif", grey16, dict(format="TIFF")),
        ("tiff_grey.tif", im.convert("L"), dict(format="TIFF")),
        # PlanarConfiguration (284), which Pillow writes and decoders read.
        ("tiff_grey_tag_past_end.tif", im.convert("L"), dict(format="TIFF"), tag_past_end(284)),
        ("tiff_palette.tif", palette, dict(format="TIFF")),
        ("tiff_palette_lzw.tif", palette, dict(format="TIFF", compression="tiff_lzw")),
        ("tiff_palette4.tif", palette, dict(format="TIFF"), repack_palette(4)),
        ("tiff_palette2_packbits.tif", palette, dict(format="TIFF"), repack_palette(2, True)),
        ("tiff_palette1_default_bits.tif", palette, dict(format="TIFF"), repack_palette(1)),
        # FillOrder 2: each byte's lowest bit first. libtiff reverses the bits of compressed
        # data as it writes; uncompressed, Pillow writes the bytes unchanged and reverses them
        # as it reads.
        ("tiff_fill2_packbits.tif", im, dict(format="TIFF", compression="packbits",
                                             tiffinfo={266: 2})),
        ("tiff_fill2_palette_lzw.tif", palette, dict(format="TIFF", compression="tiff_lzw",
                                                     tiffinfo={266: 2})),
        ("tiff_fill2_raw.tif", im, dict(format="TIFF", tiffinfo={266: 2})),
    ]
    lines = []
    for name, img, options, *edit in cases:
        path = os.path.join(out, name)
        img.save(path, **options)
        for e in edit:
            e(path)
        with Image.open(path) as read:
            mode = read.mode
            view = read.convert("RGB")
        with open(path + ".rgb", "wb") as f:
            f.write(view.tobytes())
        lines.append(f"{name} {view.width} {view.height} {mode}")
    with open(os.path.join(out, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
