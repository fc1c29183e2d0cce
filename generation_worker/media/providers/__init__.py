"""Image and video generation back-ends behind small protocols (`image.py`, `video.py`)."""
