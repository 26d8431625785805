"""Writes the sample strip's thumbnails (www/samples/thumbs/): each sample photo cut to a centred
square and scaled to 144 px (the strip shows 72 CSS px, twice that for high-density screens),
so that a first visit downloads ~40 kB of thumbnails instead of the six photos (215 kB); a sample
photo itself is fetched when it is chosen. Needs Pillow (`pip install pillow`); run from the
repository root after changing the samples: `python3 scripts/thumbnails.py`."""

from pathlib import Path

from PIL import Image, ImageOps

SIDE = 144

samples = Path("www/samples")
(samples / "thumbs").mkdir(exist_ok=True)
for photo in sorted(samples.glob("*.jpg")):
    with Image.open(photo) as image:
        thumb = ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), (SIDE, SIDE), Image.LANCZOS)
        thumb.save(samples / "thumbs" / photo.name, quality=82, optimize=True)
