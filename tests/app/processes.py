"""Running ``loomwork`` processes for the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOOMWORK = str(Path(sys.executable).parent / "loomwork")


class Instance:
    """One ``loomwork start`` process whose log goes to a file."""

    def __init__(self, project: Path, args: Sequence[str], env: dict[str, str], log: Path):
        self.log_path = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [LOOMWORK, "start", "--project", str(project), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@contextmanager
def instances(
    project: Path, count: int, args: Sequence[str], env: dict[str, str], logs: Path
) -> Iterator[list[Instance]]:
    """Start ``count`` instances; any still running at the end are killed."""
    started = [Instance(project, args, env, logs / f"instance-{i}.log") for i in range(count)]
    try:
        yield started
    finally:
        for instance in started:
            instance.close()


def wait_until(check: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def cli_json(args: Sequence[str], env: dict[str, str]) -> Any:
    done = subprocess.run(
        [LOOMWORK, *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
