"""Event subscribers of the brand-sync project."""
