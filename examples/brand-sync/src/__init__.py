"""The brand-sync example project: the store's brands kept in step with a brand system.

The folders follow loomwork's project layout: ``modules/brand`` (model, data service and
the third-party client), ``workflows`` (both sync directions), ``jobs`` (the scheduled
pull), ``subscribers`` (the push on local changes) and ``api`` (admin routes).
"""
