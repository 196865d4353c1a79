"""The tutorial's promise, end to end: ``brook up --azs 2 --brokers-per-az 1`` (a local etcd and
one broker in each of two availability zones), the topic ``MSKTutorialTopic`` created with
``brook topics --create --replication-factor 2 --partitions 1``, a console producer
(``brook produce``, librdkafka's default acks=all) and a console consumer (``brook consume
--from-beginning``) running throughout, while each broker in turn is killed (kill -9, or
SIGTERM for a controlled shutdown) and started again by ``brook up``.

With two replicas and the default ``min.insync.replicas`` of 1, a record acknowledged to an
acks=all producer is on every replica in the ISR, and leaders are elected from the ISR: losing
either broker loses no acknowledged record. So every line the producer read — before, during
and after both faults — is acknowledged (the producer exits 0 with no delivery failure) and
read by the consumer. The consumer may read some twice (its throwaway group never commits and
can start again from the beginning), never fewer."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from tests.support.brokers import REPO

TOPIC = "MSKTutorialTopic"
BROKERS = (1, 2)
LINE_INTERVAL_S = 0.02
pytestmark = pytest.mark.timeout(240)


def _free_run(n: int) -> int:
    """A base port with ``n`` consecutive free loopback ports from it on."""
    for _ in range(50):
        socks: list[socket.socket] = []
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                base = int(s.getsockname()[1])
            if base + n >= 65535:
                continue
            for p in range(base, base + n):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no run of free ports")


def _brook(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "brook", *args], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def _eventually(what: str, check: Callable[[], Any], timeout: float, data: Path | None = None,
                ) -> Any:
    """Wait until ``check()`` is true; failing, say what was last seen (and the brokers' logs
    under ``data``)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            if result := check():
                return result
            last = result
        except Exception as exc:  # a broker down or starting answers nothing
            last = exc
        if time.monotonic() > deadline:
            logs = "" if data is None else "\n".join(
                f"--- {p.name} ---\n{p.read_text(errors='replace')[-int(os.environ.get('TUTORIAL_LOG_TAIL', '3000')):]}"
                for p in sorted(data.glob("broker-*.log")))
            raise AssertionError(f"not within {timeout}s: {what} (last: {last!r})\n{logs}")
        time.sleep(0.2)


def _broker_pid(data: Path, node_id: int) -> int | None:
    """The running ``brook broker --node-id N --data-dir <data>/broker-N`` that brook up
    started (read from /proc, so nothing but this cluster's broker can match)."""
    want = {("--node-id", str(node_id)), ("--data-dir", str(data / f"broker-{node_id}"))}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if "broker" in argv and want <= set(itertools.pairwise(argv)):
            return int(name)
    return None


@dataclass
class Lines:
    """A console tool's output lines, read by a thread as they come."""

    stream: IO[bytes]
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in iter(self.stream.readline, b""):
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Feeder:
    """Writes ``tutorial-<i>`` lines into the console producer's stdin at a steady pace, as a
    user typing (fast) would, until stopped."""

    stdin: IO[bytes]
    sent: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        while not self.stop.is_set():
            line = f"tutorial-{len(self.sent)}"
            self.stdin.write(line.encode() + b"\n")
            self.stdin.flush()
            self.sent.append(line)
            time.sleep(LINE_INTERVAL_S)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.stdin.close()  # end of input: the producer flushes and exits


def _partition(bootstrap: str) -> tuple[int, tuple[int, ...]]:
    """(leader, ISR) of the tutorial topic's partition as ``bootstrap`` answers Metadata."""
    md = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 3000}).list_topics(
        TOPIC, timeout=3)
    p = md.topics[TOPIC].partitions[0]
    return int(p.leader), tuple(sorted(p.isrs))


@pytest.fixture(name="tutorial")
def fixture_tutorial(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """``brook up --azs 2 --brokers-per-az 1``: its data directory and the brokers' addresses;
    stopped with Ctrl-C at the end, which stops brokers and etcd."""
    base, etcd_port = _free_run(2), _free_run(2)
    data = tmp_path / "data"
    up = subprocess.Popen(
        [sys.executable, "-m", "brook", "up", "--azs", "2", "--brokers-per-az", "1",
         "--data-dir", str(data), "--port", str(base), "--etcd-port", str(etcd_port),
         "--no-connect", "--log-level", os.environ.get("TUTORIAL_LOG_LEVEL", "WARNING")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert up.stdout is not None
        banner = [up.stdout.readline() for _ in range(2)]
        addresses = [f"127.0.0.1:{base + i}" for i in range(2)]
        assert f"Bootstrap servers: {','.join(addresses)}" in banner[1], banner
        yield data, addresses
    finally:
        up.send_signal(signal.SIGINT)
        # Not what is tested here (test_brook_up_cluster is): brook up's clean stop of both
        # brokers at once waits out their controlled shutdowns, so they go with -9.
        for n in BROKERS:
            if (pid := _broker_pid(data, n)) is not None:
                os.kill(pid, signal.SIGKILL)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
    for n in BROKERS:  # nothing of this cluster is left running
        if (pid := _broker_pid(data, n)) is not None:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"broker {n} still running after brook up stopped")


@pytest.mark.parametrize("fault", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_console_clients_keep_every_record_while_each_broker_fails_in_turn(
    tutorial: tuple[Path, list[str]], fault: signal.Signals,
) -> None:
    data, addresses = tutorial
    bootstrap = ",".join(addresses)
    made = subprocess.run(
        [sys.executable, "-m", "brook", "topics", "--bootstrap-server", bootstrap, "--create",
         "--replication-factor", "2", "--partitions", "1", "--topic", TOPIC],
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert made.returncode == 0, made.stderr

    def settled() -> int:
        """The leader, once both brokers serve and agree on it and on a full ISR."""
        views = {a: _partition(a) for a in addresses}
        if len(set(views.values())) != 1 or views[addresses[0]][1] != BROKERS:
            raise AssertionError(f"(leader, ISR) by broker: {views}")
        return views[addresses[0]][0]

    _eventually("both replicas in the ISR", settled, 30, data)
    consumer = _brook("consume", "--bootstrap-server", bootstrap, "--topic", TOPIC,
                      "--from-beginning")
    producer = _brook("produce", "--bootstrap-server", bootstrap, "--topic", TOPIC)
    try:
        assert consumer.stdout is not None and producer.stdin is not None
        assert producer.stderr is not None
        received = Lines(consumer.stdout)
        producer_errors = Lines(producer.stderr)
        feeder = Feeder(producer.stdin)
        try:
            _eventually("records read before any fault", lambda: len(received.lines) >= 20, 60)
            for _ in BROKERS:  # the leader each time: it moves, so each broker in turn
                leader, _ = _partition(bootstrap)
                _fail_and_return(data, leader, fault, feeder, received, settled)
            after = feeder.sent[-1]
            _eventually("a record sent after both faults is read",
                        lambda: after in received.lines, 30)
        finally:
            feeder.close()
        assert producer.wait(150) == 0, producer_errors.text()
        assert "failed to deliver" not in producer_errors.text(), producer_errors.text()
        _eventually("every acknowledged record read",
                    lambda: set(feeder.sent) <= set(received.lines), 30)
    finally:
        for tool in (producer, consumer):
            if tool.poll() is None:
                tool.send_signal(signal.SIGTERM)
            try:
                tool.wait(30)
            except subprocess.TimeoutExpired:
                tool.kill()
                tool.wait()
    missing = set(feeder.sent) - set(received.lines)
    assert not missing, f"{len(missing)} of {len(feeder.sent)} records lost: {sorted(missing)[:10]}"
    assert len(feeder.sent) > 200


def _fail_and_return(data: Path, n: int, fault: signal.Signals, feeder: Feeder,
                     received: Lines, settled: Callable[[], int]) -> None:
    """Send ``fault`` to broker ``n``, the partition's leader; the other broker takes over and
    a record produced while ``n`` is down is read; brook up starts ``n`` again and it rejoins
    the ISR of the new leader."""
    pid = _broker_pid(data, n)
    assert pid is not None, f"broker {n} not running"
    os.kill(pid, fault)
    # A zombie (until brook up reaps it) has no argv, so it no longer matches.
    _eventually(f"broker {n} exited", lambda: _broker_pid(data, n) != pid, 60, data)
    during = feeder.sent[-1]
    _eventually(f"a record sent while broker {n} is down is read",
                lambda: during in received.lines, 60, data)
    _eventually(f"broker {n} started again by brook up",
                lambda: _broker_pid(data, n) not in (None, pid), 30)
    # Leadership moved when the controller fenced (or shut down) ``n``, which also took it out
    # of the ISR: a full ISR under the new leader means ``n`` caught up and was added back.
    _eventually(f"broker {n} back in the ISR of the new leader", lambda: settled() != n, 60, data)
