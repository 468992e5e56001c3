"""Modules of the brand-sync project."""
