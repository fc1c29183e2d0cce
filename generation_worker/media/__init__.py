"""Media work: variants of uploads (Pillow, ffmpeg), image and video generation, progress."""
