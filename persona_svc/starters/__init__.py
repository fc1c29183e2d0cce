"""Starter personas: written for Persona Community and seeded on an empty store, so Explore is
never empty on a new install (`catalog` reads them, `seed` creates them, `draw` made their avatars)."""
