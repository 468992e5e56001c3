"""Alembic environment of this module: loomwork passes the connection and settings."""

from loomwork.modules._migrations import run_environment

run_environment()
