"""Running the Java test programs of ``tests/java/programs`` and reading their JSON lines.

Each program prints one JSON object per line on stdout (the Java logging goes to stderr); the
helpers here run one to completion, or keep one running and hand its lines over as they come,
so a test can drive several Java clients at once and watch what each one sees.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from tests.support.java import PROGRAMS, java_command, run_program

__all__ = ["JavaProgram", "json_lines", "run_json"]


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among a program's output lines."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def run_json(name: str, *args: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Run a program to completion (failing with its output on a non-zero exit)."""
    return json_lines(run_program(name, *args, timeout=timeout).stdout)


class JavaProgram:
    """A Java program kept running: its stdin for commands, its JSON lines as they arrive."""

    def __init__(self, name: str, *args: str, heap: str = "256m", log_level: str = "warn",
                 sysprops: Mapping[str, str] | None = None) -> None:
        cmd = java_command(PROGRAMS / f"{name}.java", *args, heap=heap, log_level=log_level,
                           sysprops=sysprops)
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._new: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                obj = json.loads(line)
                self.lines.append(obj)
                self._new.put(obj)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], what: str,
                 timeout: float = 60.0) -> dict[str, Any]:
        """The first line (already seen or still to come) for which ``pred`` holds."""
        for line in list(self.lines):
            if pred(line):
                return line
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._new.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None and self._new.empty():
                    break
                continue
            if pred(line):
                return line
        raise AssertionError(f"no {what} within {timeout}s:\n{self.output()}")

    def output(self) -> str:
        out = "\n".join(json.dumps(line) for line in self.lines[-60:])
        return f"--- stdout\n{out}\n--- stderr\n{''.join(self.stderr)[-4000:]}"

    def close(self, timeout: float = 30.0) -> int:
        """End of input (the program's cue to quit), then SIGKILL if it does not exit."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.wait()

    def kill(self) -> None:
        """kill -9 the JVM (a crash: no leave, no commit)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
