"""Steps of the ``push-brand-to-system`` workflow."""
