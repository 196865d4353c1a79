"""The ``brook`` command: dispatch to Kafka-script-compatible tools and the platform's servers.

Subcommands are imported lazily so that ``brook topics`` does not pay for (or depend on) the
broker's import graph, and so that ``brook broker``/``brook up``/``brook connect`` can be
registered here before their packages exist. Every subcommand's user errors funnel through
one place and come out as a single ``brook <sub>: error: ...`` line.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from brook import __version__
from brook.cli.common import PROG, CliError

# name -> (module, function, summary). Client tools take the rest of argv and return an exit code.
TOOLS: dict[str, tuple[str, str, str]] = {
    "topics": ("brook.cli.topics", "main", "create, list, describe, alter, delete topics"),
    "produce": ("brook.cli.console_producer", "main", "send lines from stdin to a topic"),
    "consume": ("brook.cli.console_consumer", "main", "print messages of a topic"),
    "groups": ("brook.cli.groups", "main", "list, describe, delete groups; reset offsets"),
    "connectors": ("brook.connect.cli", "main", "list, create, describe, pause, delete connectors"),
    "cluster": ("brook.cli.cluster", "main", "describe the brokers, racks and controller"),
}

# Servers owned by other packages: handed the remaining argv untouched.
DELEGATED: dict[str, tuple[str, str, str]] = {
    "up": ("brook.broker.up", "main", "start a whole platform on this machine"),
    "broker": ("brook.broker.main", "main", "run one broker process"),
    "connect": ("brook.connect.main", "main", "run a Kafka Connect-compatible worker"),
}

# The Kafka script names, so muscle memory (and copied commands) work too.
ALIASES: dict[str, str] = {
    "kafka-topics": "topics",
    "kafka-topics.sh": "topics",
    "producer": "produce",
    "console-producer": "produce",
    "kafka-console-producer": "produce",
    "kafka-console-producer.sh": "produce",
    "consumer": "consume",
    "console-consumer": "consume",
    "kafka-console-consumer": "consume",
    "kafka-console-consumer.sh": "consume",
    "kafka-consumer-groups": "groups",
    "kafka-consumer-groups.sh": "groups",
}


def usage() -> str:
    lines = [f"usage: {PROG} [--version] <command> [options]", "", "commands:"]
    for name, (_, _, summary) in {**TOOLS, **DELEGATED}.items():
        lines.append(f"  {name:<10} {summary}")
    lines.append("")
    lines.append(f"Run '{PROG} <command> --help' for a command's options.")
    return "\n".join(lines) + "\n"


def _load(command: str, module: str, function: str) -> Callable[[list[str]], int]:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only "this command's module is absent" is a user-level condition; a missing
        # dependency deeper down is a real bug and keeps its traceback.
        if exc.name is not None and module.startswith(exc.name):
            raise CliError(f"'{PROG} {command}' is not available in this installation") from None
        raise
    func: Callable[[list[str]], int] = getattr(mod, function)
    return func


def _silence_stdout() -> None:
    """After a closed pipe (``brook consume | head``), stop Python complaining at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        (sys.stdout if args else sys.stderr).write(usage())
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        print(f"{PROG} {__version__}")
        return 0
    command = ALIASES.get(args[0], args[0])
    rest = args[1:]
    spec = TOOLS.get(command) or DELEGATED.get(command)
    if spec is None:
        choices = ", ".join([*TOOLS, *DELEGATED])
        sys.stderr.write(f"{PROG}: error: unknown command '{args[0]}' (choose from {choices})\n")
        return 2
    module, function, _ = spec
    try:
        func = _load(command, module, function)
        code = func(rest)
        return int(code or 0)
    except CliError as exc:
        sys.stderr.write(f"{PROG} {command}: error: {exc}\n")
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        sys.stderr.write(f"{exc.code}\n")
        return 1
