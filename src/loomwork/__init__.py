"""loomwork: a framework for commerce back ends.

Packages: ``workflows`` (steps, compensation, durable runs), ``modules`` (models and
generated data services), ``events`` (event bus and subscribers), ``scheduler`` (cron jobs),
``app`` (project loader and runtime), ``http`` (admin API), ``cli``.
"""

__version__ = "0.1.0"
