"""Procedural images for the demo challenge and the tests: same seed, same pixels.

Content photos are landscapes (sky, sun, layered hills, buildings, water with a reflection);
style images are textures from four families (mosaic, stripes, brush strokes, palette
noise). They are cheap to make, varied enough to train and score on, and need no download.
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

STYLE_FAMILIES = ("mosaic", "stripes", "brush", "palette")


def _rng(seed: int, *salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, *salt])


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float64)


def _palette(rng: np.random.Generator, count: int) -> np.ndarray:
    base = rng.random()
    hues = base + np.sort(rng.random(count)) * rng.uniform(0.25, 0.9)
    return np.stack([_hsv(h, rng.uniform(0.45, 0.95), rng.uniform(0.45, 1.0)) for h in hues])


def _to_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8), mode="RGB")


# --- Content: landscapes --------------------------------------------------------------------


def landscape(seed: int, index: int, *, width: int = 256, height: int = 192) -> Image.Image:
    """A landscape photo stand-in: sky, sun, hills, maybe buildings, maybe water."""
    rng = _rng(seed, 1, index)
    ys, xs = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    dusk = rng.random() < 0.35
    top = _hsv(rng.uniform(0.55, 0.65), 0.6, 0.85) if not dusk else _hsv(0.7, 0.5, 0.45)
    horizon_colour = _hsv(rng.uniform(0.5, 0.6), 0.25, 1.0) if not dusk else _hsv(0.05, 0.7, 1.0)
    mix = ys[..., None] ** 0.8
    pixels = top * (1 - mix) + horizon_colour * mix

    sun_x, sun_y = rng.uniform(0.15, 0.85), rng.uniform(0.1, 0.45)
    sun_r = rng.uniform(0.04, 0.08)
    distance = np.hypot((xs - sun_x) * width / height, ys - sun_y)
    glow = np.exp(-((distance / (sun_r * 3)) ** 2))[..., None] * 0.35
    sun_colour = _hsv(0.13 if not dusk else 0.04, 0.6, 1.0)
    pixels = pixels * (1 - glow) + sun_colour * glow
    pixels[distance < sun_r] = sun_colour

    water_line = rng.uniform(0.68, 0.82) if rng.random() < 0.6 else 1.01
    hill_hue = rng.uniform(0.22, 0.4)
    layers = int(rng.integers(2, 5))
    for layer in range(layers):
        depth = (layer + 1) / layers
        base = 0.35 + 0.35 * depth + rng.uniform(-0.05, 0.05)
        ridge = base - sum(
            rng.uniform(0.02, 0.09)
            / (k + 1)
            * np.sin(2 * np.pi * (k + 1) * rng.uniform(0.5, 2) * xs[0] + rng.uniform(0, 2 * np.pi))
            for k in range(4)
        )
        colour = _hsv(hill_hue + rng.uniform(-0.04, 0.04), 0.55, 0.25 + 0.5 * (1 - depth))
        if dusk:
            colour = colour * 0.55
        mask = ys >= ridge[None, :]
        shade = (1 - 0.25 * (ys - ridge[None, :]).clip(0, 1))[..., None]
        pixels = np.where(mask[..., None], colour * shade, pixels)

    if rng.random() < 0.55:
        pixels = _buildings(pixels, rng, xs, ys, ground=min(water_line, 0.92), dusk=dusk)

    if water_line < 1:
        pixels = _water(pixels, rng, ys, water_line, height)
    noise = rng.normal(0, 0.012, pixels.shape)
    return _to_image(pixels + noise)


def _buildings(
    pixels: np.ndarray,
    rng: np.random.Generator,
    xs: np.ndarray,
    ys: np.ndarray,
    *,
    ground: float,
    dusk: bool,
) -> np.ndarray:
    height, width = ys.shape
    x = rng.uniform(0.0, 0.5)
    while x < rng.uniform(0.6, 1.0):
        building_width = rng.uniform(0.04, 0.1)
        top = ground - rng.uniform(0.1, 0.35)
        colour = _hsv(rng.uniform(0, 1), rng.uniform(0, 0.25), rng.uniform(0.25, 0.65))
        mask = (xs >= x) & (xs < x + building_width) & (ys >= top) & (ys < ground)
        pixels = np.where(mask[..., None], colour, pixels)
        lit = _hsv(0.13, 0.5, 1.0) if dusk else _hsv(0.58, 0.2, 0.85)
        window_rows = (((ys - top) * height) % 7 < 3) & (((xs - x) * width) % 6 < 3)
        windows = mask & window_rows & (rng.random(mask.shape) < (0.7 if dusk else 0.9))
        pixels = np.where(windows[..., None], lit, pixels)
        x += building_width + rng.uniform(0.0, 0.03)
    return pixels


def _water(
    pixels: np.ndarray, rng: np.random.Generator, ys: np.ndarray, line: float, height: int
) -> np.ndarray:
    start = int(line * height)
    depth = height - start
    reflection = pixels[max(start - depth, 0) : start][::-1]
    if reflection.shape[0] < depth:
        pad = np.repeat(reflection[-1:], depth - reflection.shape[0], axis=0)
        reflection = np.concatenate([reflection, pad])
    tint = _hsv(rng.uniform(0.52, 0.62), 0.55, 0.55)
    ripple = 0.06 * np.sin(np.arange(depth)[:, None] * 1.7 + np.arange(pixels.shape[1]) * 0.05)
    water = reflection * 0.55 + tint * 0.45 + ripple[..., None]
    out = pixels.copy()
    out[start:] = water
    return out


# --- Styles: textures -----------------------------------------------------------------------


def style_image(
    seed: int, family: str, variant: int, *, size: int = 256, palette: int | None = None
) -> Image.Image:
    """A style artwork stand-in of one of :data:`STYLE_FAMILIES`.

    `palette` takes the colours of another variant (the same seed and family): several
    variants with one palette are paintings of one style.
    """
    rng = _rng(seed, 2, STYLE_FAMILIES.index(family), variant)
    colours = rng if palette is None else _rng(seed, 2, STYLE_FAMILIES.index(family), palette)
    painter = {
        "mosaic": _mosaic,
        "stripes": _stripes,
        "brush": _brush,
        "palette": _palette_noise,
    }[family]
    return painter(rng, colours, size)


def _mosaic(rng: np.random.Generator, colours: np.random.Generator, size: int) -> Image.Image:
    palette = _palette(colours, 6)
    count = int(rng.integers(90, 180))
    seeds = rng.random((count, 2)) * size
    ys, xs = np.mgrid[0:size, 0:size]
    points = np.stack([ys.ravel(), xs.ravel()], axis=1).astype(np.float64)
    distance = ((points[:, None, :] - seeds[None, :, :]) ** 2).sum(-1)
    order = np.argsort(distance, axis=1)[:, :2]
    nearest = np.take_along_axis(distance, order, axis=1)
    cell = order[:, 0]
    grout = (np.sqrt(nearest[:, 1]) - np.sqrt(nearest[:, 0])) < 1.6
    colours = palette[rng.integers(0, len(palette), count)][cell]
    colours = colours * rng.uniform(0.85, 1.1, (count, 1))[cell]
    colours[grout] = np.array([0.12, 0.1, 0.09])
    return _to_image(colours.reshape(size, size, 3))


def _stripes(rng: np.random.Generator, colours: np.random.Generator, size: int) -> Image.Image:
    palette = _palette(colours, int(colours.integers(3, 6)))
    ys, xs = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, np.pi)
    u = xs * np.cos(angle) + ys * np.sin(angle)
    wobble = 0.03 * np.sin(2 * np.pi * (ys * rng.uniform(1, 4) + xs * rng.uniform(1, 4)))
    band = ((u + wobble) * rng.uniform(6, 14)).astype(int) % len(palette)
    pixels = palette[band] * (0.92 + 0.08 * np.sin(u * 80))[..., None]
    return _to_image(pixels)


def _brush(rng: np.random.Generator, colours: np.random.Generator, size: int) -> Image.Image:
    palette = _palette(colours, 5)
    canvas = Image.new("RGB", (size, size), tuple((palette[0] * 255).astype(int).tolist()))
    draw = ImageDraw.Draw(canvas)
    flow = rng.uniform(0, np.pi)
    for _ in range(int(rng.integers(500, 800))):
        x, y = rng.random(2) * size
        angle = flow + 0.8 * np.sin(x / size * 6) + rng.normal(0, 0.25)
        length = rng.uniform(8, 24)
        colour = palette[rng.integers(0, len(palette))] * rng.uniform(0.8, 1.1)
        end = (x + np.cos(angle) * length, y + np.sin(angle) * length)
        draw.line(
            [(x, y), end],
            fill=tuple(np.clip(colour * 255, 0, 255).astype(int).tolist()),
            width=int(rng.integers(3, 7)),
        )
    return canvas.filter(ImageFilter.SMOOTH)


def _palette_noise(
    rng: np.random.Generator, colours: np.random.Generator, size: int
) -> Image.Image:
    palette = _palette(colours, int(colours.integers(4, 7)))
    ys, xs = np.mgrid[0:size, 0:size] / size
    field = np.zeros((size, size))
    for octave in range(5):
        frequency = 2**octave * rng.uniform(1.5, 3)
        field += (0.6**octave) * np.sin(
            2
            * np.pi
            * (xs * frequency * rng.uniform(0.5, 1.5) + ys * frequency * rng.uniform(-1, 1))
            + rng.uniform(0, 2 * np.pi)
        )
    levels = np.quantile(field, np.linspace(0, 1, len(palette) + 1)[1:-1])
    return _to_image(palette[np.digitize(field, levels)])
