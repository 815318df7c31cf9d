"""Image grids as PNG files (Pillow; no plotting library needed)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def tile(images: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
  """[N, H, W] values in [0, 1] -> one [rows*(H+pad)+pad, cols*(W+pad)+pad] image."""
  images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
  n, h, w = images.shape
  rows = -(-n // cols)
  out = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad), np.float32)
  for i, img in enumerate(images):
    r, c = divmod(i, cols)
    out[
      pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w
    ] = img
  return out


def save_panels(path: str, panels: dict[str, np.ndarray], cols: int = 8, scale: int = 2) -> None:
  """Saves titled panels side by side (e.g. data | reconstruction | sample) as one PNG."""
  tiles = [tile(images, cols) for images in panels.values()]
  title_h, gap = 12, 6
  height = max(t.shape[0] for t in tiles) * scale + title_h
  width = sum(t.shape[1] * scale for t in tiles) + gap * (len(tiles) - 1)
  canvas = Image.new("L", (width, height), 255)
  draw = ImageDraw.Draw(canvas)
  x = 0
  for title, t in zip(panels, tiles):
    img = Image.fromarray((t * 255).round().astype(np.uint8)).resize(
      (t.shape[1] * scale, t.shape[0] * scale), Image.NEAREST
    )
    canvas.paste(img, (x, title_h))
    draw.text((x + 2, 0), title, fill=0)
    x += img.width + gap
  canvas.save(path)
