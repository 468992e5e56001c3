"""Scheduled jobs of the brand-sync project."""
