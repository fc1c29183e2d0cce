"""media_svc: Uploads, variants, image and video generation."""
