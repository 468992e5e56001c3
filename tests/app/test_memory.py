"""Start-up objects are frozen once per process, after a collection."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc
    from loomwork.app import freeze_startup_objects

    class Cycle:
        def __init__(self):
            self.me = self

    Cycle()  # start-up garbage: collected before the freeze, not kept
    assert gc.get_freeze_count() == 0
    assert freeze_startup_objects() is True
    frozen = gc.get_freeze_count()
    assert frozen > 1000, frozen
    assert not any(type(item).__name__ == "Cycle" for item in gc.get_objects())
    assert freeze_startup_objects() is False
    assert gc.get_freeze_count() == frozen
    print("ok")
    """
)


def test_the_first_call_collects_then_freezes_and_later_calls_do_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
