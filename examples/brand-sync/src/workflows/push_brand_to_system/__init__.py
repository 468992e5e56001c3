"""The ``push-brand-to-system`` workflow (store to brand system)."""

from __future__ import annotations

from .steps.prepare_push import push_operation
from .workflow import WORKFLOW_NAME, push_brand_to_system_workflow

__all__ = ["WORKFLOW_NAME", "push_brand_to_system_workflow", "push_operation"]
