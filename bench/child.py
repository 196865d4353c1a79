"""Load generators run in their own processes (spawned, never forked from the runner).

A worker is a module-level function `fn(args: dict, emit: Emit) -> dict`. It may `emit(kind,
payload)` progress events (e.g. "ready"); its return value arrives as the "result" event.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import time
import traceback
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

Emit = Callable[[str, Any], None]
Worker = Callable[[dict[str, Any], Emit], dict[str, Any]]

_CTX = mp.get_context("spawn")


class WorkerError(RuntimeError):
    pass


def _entry(fn: Worker, args: dict[str, Any], q: Any) -> None:
    def emit(kind: str, payload: Any = None) -> None:
        q.put((kind, payload))

    try:
        emit("result", fn(args, emit))
    except BaseException as e:
        emit("error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}")


class Child:
    """A running worker process; use as a context manager so it is always reaped."""

    def __init__(self, fn: Worker, args: dict[str, Any]) -> None:
        self.name = fn.__name__
        self._q: Any = _CTX.Queue()
        self._proc: BaseProcess = _CTX.Process(target=_entry, args=(fn, args, self._q),
                                               daemon=True)
        self._proc.start()

    def wait_for(self, kind: str, timeout: float) -> Any:
        """Block until the worker emits `kind` (or fails, exits or times out)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerError(f"{self.name}: no {kind!r} within {timeout:.0f}s")
            try:
                got_kind, payload = self._q.get(timeout=min(left, 0.5))
            except queue.Empty:
                if not self._proc.is_alive():
                    # A final message may still be in the pipe.
                    with contextlib.suppress(queue.Empty):
                        got_kind, payload = self._q.get(timeout=0.5)
                        if got_kind == kind:
                            return payload
                        if got_kind == "error":
                            raise WorkerError(f"{self.name}: {payload}") from None
                    raise WorkerError(f"{self.name}: exited with {self._proc.exitcode} "
                                      f"before {kind!r}") from None
                continue
            if got_kind == kind:
                return payload
            if got_kind == "error":
                raise WorkerError(f"{self.name}: {payload}")

    def result(self, timeout: float) -> dict[str, Any]:
        res = self.wait_for("result", timeout)
        assert isinstance(res, dict)
        return res

    def close(self, grace: float = 2.0) -> None:
        self._proc.join(timeout=grace)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=3)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=3)
        self._q.close()
        self._q.cancel_join_thread()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.close(grace=2.0 if exc_type is None else 0.0)


def run(fn: Worker, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one worker to completion in its own process."""
    with Child(fn, args) as child:
        return child.result(timeout)
