"""Steps of the ``sync-brands-from-system`` workflow."""
