"""Writes the GIF composition cases of tests/it/decode.rs and Pillow's view of each.

For every case NAME: NAME.gif (written here byte by byte, uncompressed LZW, so that frame
offsets, palettes and transparency are exactly as stated) and NAME.gif.rgb, the bytes of
`Image.open(NAME.gif).convert("RGB")`; expected.txt lists `NAME.gif WIDTH HEIGHT` per case.

    python3 -m venv /tmp/pv && /tmp/pv/bin/pip install pillow
    /tmp/pv/bin/python tests/data/gif/make.py tests/data/gif
"""
import os
import struct
import sys

from PIL import Image


def lzw_uncompressed(indices, min_code=8):
    """Every index as its own 9-bit code, with a clear code every 100 codes."""
    clear, end = 1 << min_code, (1 << min_code) + 1
    width = min_code + 1
    state = {"bits": 0, "n": 0}
    out = bytearray()

    def emit(code):
        state["bits"] |= code << state["n"]
        state["n"] += width
        while state["n"] >= 8:
            out.append(state["bits"] & 0xFF)
            state["bits"] >>= 8
            state["n"] -= 8

    emit(clear)
    for i, v in enumerate(indices):
        if i and i % 100 == 0:
            emit(clear)
        emit(v)
    emit(end)
    if state["n"]:
        out.append(state["bits"] & 0xFF)
    data = bytearray([min_code])
    for i in range(0, len(out), 255):
        chunk = out[i:i + 255]
        data.append(len(chunk))
        data += chunk
    data.append(0)
    return bytes(data)


def table(pal):
    """(size bits, colour table padded with black to its power-of-two size)."""
    n = len(pal) // 3
    bits = max(n - 1, 1).bit_length() - 1
    return bits, bytes(pal) + bytes(3 * ((2 << bits) - n))


def interlace(rows):
    order = list(range(0, len(rows), 8)) + list(range(4, len(rows), 8)) \
        + list(range(2, len(rows), 4)) + list(range(1, len(rows), 2))
    return [rows[r] for r in order]


def gif(sw, sh, fx, fy, fw, fh, idx, gpal=None, lpal=None, trns=None, bg=0, interlaced=False):
    out = bytearray(b"GIF89a" + struct.pack("<HH", sw, sh))
    if gpal:
        bits, t = table(gpal)
        out += bytes([0x80 | 0x70 | bits, bg, 0]) + t
    else:
        out += bytes([0, bg, 0])
    if trns is not None:
        out += b"\x21\xF9\x04" + bytes([1, 0, 0, trns, 0])
    out += b"\x2C" + struct.pack("<HHHH", fx, fy, fw, fh)
    flags = 0x40 if interlaced else 0
    if lpal:
        bits, t = table(lpal)
        out += bytes([0x80 | flags | bits]) + t
    else:
        out += bytes([flags])
    if interlaced:
        rows = [idx[r * fw:(r + 1) * fw] for r in range(fh)]
        idx = [v for row in interlace(rows) for v in row]
    out += lzw_uncompressed(idx) + b"\x3B"
    return bytes(out)


P4 = [10, 20, 30, 200, 40, 50, 60, 210, 70, 80, 90, 220]
LOCAL = [1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 251, 252]
CASES = {
    # Transparent pixels keep their palette colour.
    "trns_inside": gif(6, 5, 0, 0, 6, 5, [i % 4 for i in range(30)], gpal=P4, trns=2),
    # Screen pixels outside the frame: index 0, not the background colour (1).
    "offset_bg": gif(8, 8, 2, 2, 4, 4, [i % 3 + 1 for i in range(16)], gpal=P4, bg=1),
    # ... and the transparent index when there is one.
    "offset_trns": gif(8, 8, 2, 2, 4, 4, [i % 3 for i in range(16)], gpal=P4, bg=1, trns=3),
    # Indices past the colour table are black.
    "index_past_palette": gif(4, 4, 0, 0, 4, 4, [i % 8 for i in range(16)], gpal=P4[:6]),
    # A local table wins over the global one, transparency included.
    "local_palette": gif(5, 4, 1, 0, 4, 4, [i % 4 for i in range(16)], gpal=P4, lpal=LOCAL,
                         trns=1),
    # A frame reaching past the screen enlarges the image.
    "frame_past_screen": gif(4, 4, 2, 2, 4, 4, [i % 4 for i in range(16)], gpal=P4),
    # No colour table anywhere: Pillow reads the indices as grey levels.
    "no_palette": gif(5, 4, 0, 0, 5, 4, [i * 13 for i in range(20)], trns=7),
    # Interlaced rows come back in display order.
    "interlaced": gif(7, 13, 0, 0, 7, 13, [(i * 7 + i // 7) % 4 for i in range(91)], gpal=P4,
                      interlaced=True),
}


def main(out):
    lines = []
    for name, data in CASES.items():
        path = os.path.join(out, name + ".gif")
        with open(path, "wb") as f:
            f.write(data)
        with Image.open(path) as im:
            rgb = im.convert("RGB")
        with open(path + ".rgb", "wb") as f:
            f.write(rgb.tobytes())
        lines.append(f"{name}.gif {rgb.width} {rgb.height}")
    with open(os.path.join(out, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
