"""Text, image and video back-ends behind small protocols."""
