"""Workflows of the brand-sync project: the pull from and the push to the brand system."""
