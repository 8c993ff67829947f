#!/usr/bin/env python3
"""Draws chexlens's app icons (public/icons/*.png) with Pillow: a dark tile
with a stylised rib cage and a lens. Run from the repository root; the PNGs
are committed, so builds need no Python."""

from PIL import Image, ImageDraw

BACKGROUND = (16, 32, 56)
BONE = (232, 238, 245)
LENS = (90, 200, 250)


def draw(size, maskable=False):
    scale = 4  # drawn large, then reduced, for smooth edges
    s = size * scale
    img = Image.new("RGB" if maskable else "RGBA", (s, s), BACKGROUND if maskable else (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    # Maskable icons keep their drawing inside the central 80% safe zone.
    inset = int(s * (0.18 if maskable else 0.0))
    if not maskable:
        d.rounded_rectangle([0, 0, s - 1, s - 1], radius=int(s * 0.2), fill=BACKGROUND)
    box = (inset, inset, s - inset, s - inset)
    w = box[2] - box[0]
    cx = box[0] + w / 2
    line = max(2, int(w * 0.035))
    # Spine.
    d.line([(cx, box[1] + w * 0.16), (cx, box[1] + w * 0.86)], fill=BONE, width=line)
    # Ribs: arcs either side of the spine.
    for i in range(5):
        top = box[1] + w * (0.22 + i * 0.12)
        half = w * (0.24 + 0.02 * i)
        d.arc([cx - half, top, cx + 2, top + w * 0.2], 180, 300, fill=BONE, width=line)
        d.arc([cx - 2, top, cx + half, top + w * 0.2], 240, 360, fill=BONE, width=line)
    # Lens over the lower right.
    r = w * 0.17
    lx, ly = box[0] + w * 0.68, box[1] + w * 0.68
    d.ellipse([lx - r, ly - r, lx + r, ly + r], outline=LENS, width=line * 2)
    d.line([(lx + r * 0.7, ly + r * 0.7), (lx + r * 1.5, ly + r * 1.5)], fill=LENS, width=line * 2)
    return img.resize((size, size), Image.LANCZOS)


def main():
    for size in (192, 512):
        draw(size).save(f"public/icons/icon-{size}.png", optimize=True)
    draw(512, maskable=True).save("public/icons/icon-maskable-512.png", optimize=True)
    draw(180, maskable=True).save("public/icons/apple-touch-icon.png", optimize=True)
    draw(32).save("public/icons/favicon-32.png", optimize=True)


if __name__ == "__main__":
    main()
