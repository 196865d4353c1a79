"""A three-broker cluster whose every inter-process link runs through a fault proxy.

``FaultCluster`` starts one real etcd and N real broker processes (``python -m brook broker``)
in racks, with metadata in etcd, and wires them so a test can fail any link or process:

* each broker reaches etcd through a proxy of its own (``metadata.store=etcd://<proxy>``), so
  one broker can be cut from etcd while the others keep it;
* each broker listens on ``PLAINTEXT`` (clients, directly) and ``REPLICATION`` (other
  brokers), and advertises ``REPLICATION`` at a proxy with ``inter.broker.listener.name=
  REPLICATION``: replica fetchers and forwarded controller requests to that broker cross it,
  and the proxy tells their sources apart by client id (:mod:`brook.testing.fault_proxy`).
  ``REPLICATION`` is advertised first, so a broker that picks the first advertised listener
  for inter-broker traffic goes through the proxy too.

Processes: ``kill`` (SIGKILL), ``terminate`` (SIGTERM, waits for the exit), ``start``
(waits for the broker's ready line; after a kill -9 that includes waiting out the dead
incarnation's registration), ``pause``/``resume`` (SIGSTOP/SIGCONT), ``kill_etcd``/
``start_etcd``. Links: ``cut_etcd``, ``cut_peers``, ``slow_peers``, ``split``. Disks: ``stall_disk`` (brokers
run as :mod:`brook.testing.stall_broker`). ``heal`` undoes every link cut and disk stall.

Observation goes through the cluster itself, as a client sees it: :meth:`partitions` is
Metadata from a serving broker, :meth:`controller` is DescribeCluster, and
:meth:`wait_settled` waits until every serving broker agrees that every partition has a
leader and a full ISR.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from brook.cli.cluster import active_controller
from brook.testing.etcd import EtcdServer
from brook.testing.fault_proxy import FaultNet, Mode, Proxy
from brook.testing.process import BrokerProcess, free_port
from brook.testing.stall_broker import read_stall, write_stall

__all__ = ["ClusterConfig", "FaultCluster", "PartitionState", "broker_name"]

ETCD = "etcd"


def broker_name(node_id: int) -> str:
    """A broker's name as a link source or destination."""
    return f"broker-{node_id}"


@dataclass(frozen=True)
class ClusterConfig:
    brokers: int = 3
    racks: tuple[str, ...] = ("use1-az1", "use1-az2", "use1-az3")
    """Broker ``n`` goes to ``racks[(n - 1) % len(racks)]``."""
    session_timeout_ms: int | None = 4000
    """``broker.session.timeout.ms``: how long a dead or cut broker stays registered (None:
    the product's default)."""
    replica_lag_ms: int | None = 4000
    """``replica.lag.time.max.ms``: how long a silent follower stays in the ISR (None: the
    product's default)."""
    proxies: bool = True
    """False: brokers reach etcd and each other directly (a benchmark measures the product,
    not the proxy); the link actions then do nothing."""
    stallable_disks: bool = True
    """Run brokers as :mod:`brook.testing.stall_broker` so ``stall_disk`` can slow their
    writes and syncs (False: the product's own ``brook broker``)."""
    overrides: tuple[tuple[str, str], ...] = ()
    cluster_id: str = "brook-faults"
    log_level: str = "WARNING"


@dataclass(frozen=True)
class PartitionState:
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def settled(self) -> bool:
        return self.leader >= 0 and set(self.isr) == set(self.replicas)


def _admin(bootstrap: str) -> Any:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000,
                        "log_level": 2})


@dataclass
class FaultCluster:
    work_dir: Path
    config: ClusterConfig = field(default_factory=ClusterConfig)
    log: Callable[[str], None] = print
    net: FaultNet = field(init=False)
    etcd: EtcdServer = field(init=False)
    brokers: dict[int, BrokerProcess] = field(default_factory=dict, init=False)
    etcd_proxies: dict[int, Proxy] = field(default_factory=dict, init=False)
    peer_proxies: dict[int, Proxy] = field(default_factory=dict, init=False)
    paused: set[int] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.net = FaultNet()
        self.etcd = EtcdServer(self.work_dir / "etcd" / "data")

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FaultCluster:
        self.etcd.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.etcd.start()
        for n in range(1, self.config.brokers + 1):
            self.brokers[n] = self._broker(n)
        self._each(self.brokers, self.start_broker)
        return self

    def _broker(self, n: int) -> BrokerProcess:
        replication = free_port()
        store, peer = self.etcd.endpoint, f"127.0.0.1:{replication}"
        if self.config.proxies:
            self.peer_proxies[n] = self.net.proxy(broker_name(n), replication)
            self.etcd_proxies[n] = self.net.proxy(ETCD, self.etcd.client_port,
                                                  source=broker_name(n))
            store, peer = self.etcd_proxies[n].address, self.peer_proxies[n].address
        overrides = {
            "metadata.store": f"etcd://{store}",
            "cluster.id": self.config.cluster_id,
            "broker.rack": self.config.racks[(n - 1) % len(self.config.racks)],
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT",
            "inter.broker.listener.name": "REPLICATION",
        }
        if self.config.session_timeout_ms is not None:
            overrides["broker.session.timeout.ms"] = str(self.config.session_timeout_ms)
        if self.config.replica_lag_ms is not None:
            overrides["replica.lag.time.max.ms"] = str(self.config.replica_lag_ms)
        overrides.update(self.config.overrides)
        program: list[str] = []
        if self.config.stallable_disks:
            program = [sys.executable, "-m", "brook.testing.stall_broker",
                       "--stall-file", str(self._stall_file(n))]
        return BrokerProcess(
            self.work_dir / f"broker-{n}" / "data", overrides=overrides, warp_clock=False,
            program=program,
            node_id=n, log_level=self.config.log_level,
            listeners=f"PLAINTEXT://127.0.0.1:{{port}},REPLICATION://127.0.0.1:{replication}",
            advertised_listeners=(f"REPLICATION://{peer},"
                                  "PLAINTEXT://127.0.0.1:{port}"),
        )

    def stop(self) -> None:
        """Stop everything this cluster started (brokers first, then etcd, then proxies)."""
        self.net.heal()
        for n in list(self.paused):
            self.resume(n)

        def stop_one(n: int) -> None:
            with contextlib.suppress(Exception):
                self.brokers[n].stop(timeout=20)
        self._each(self.brokers, stop_one)
        with contextlib.suppress(Exception):
            self.etcd.stop()
        self.net.close()

    def __enter__(self) -> FaultCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _each(nodes: Iterable[int], action: Callable[[int], None]) -> None:
        """Run ``action`` for every node at once (broker starts take seconds each)."""
        errors: list[BaseException] = []

        def run(n: int) -> None:
            try:
                action(n)
            except BaseException as exc:  # re-raised below, in the caller's thread
                errors.append(exc)
        threads = [threading.Thread(target=run, args=(n,)) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    # -- processes -----------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """Every broker's client listener: clients find whoever serves."""
        return ",".join(b.bootstrap for b in self.brokers.values())

    def serving(self) -> list[int]:
        """Brokers running and not stopped."""
        return [n for n, b in self.brokers.items() if b.alive() and n not in self.paused]

    def start_broker(self, n: int, timeout: float = 90.0) -> None:
        self.brokers[n].start(timeout)

    def kill(self, n: int) -> None:
        self.paused.discard(n)
        self.brokers[n].kill()

    def terminate(self, n: int, timeout: float = 60.0) -> int:
        """SIGTERM and wait for the exit (a controlled shutdown); the exit code."""
        self.paused.discard(n)
        return self.brokers[n].stop(signal.SIGTERM, timeout)

    def pause(self, n: int) -> None:
        os.kill(self.brokers[n].pid, signal.SIGSTOP)
        self.paused.add(n)

    def resume(self, n: int) -> None:
        if n in self.paused and self.brokers[n].alive():
            os.kill(self.brokers[n].pid, signal.SIGCONT)
        self.paused.discard(n)

    def kill_etcd(self) -> None:
        self.etcd.kill()

    def start_etcd(self) -> None:
        self.etcd.start()

    # -- links ---------------------------------------------------------------------------------

    def cut_etcd(self, n: int, mode: Mode = Mode.DROP) -> None:
        self.net.set_link(broker_name(n), ETCD, mode)

    def cut_peers(self, n: int, peers: Iterable[int] | None = None,
                  mode: Mode = Mode.DROP) -> None:
        """Cut broker ``n`` from ``peers`` (all others by default), both directions."""
        for p in (peers if peers is not None else [p for p in self.brokers if p != n]):
            self.net.set_link(broker_name(n), broker_name(p), mode)
            self.net.set_link(broker_name(p), broker_name(n), mode)

    def slow_peers(self, n: int, delay_s: float, peers: Iterable[int] | None = None) -> None:
        """Add ``delay_s`` of latency each way between broker ``n`` and ``peers`` (all)."""
        for p in (peers if peers is not None else [p for p in self.brokers if p != n]):
            self.net.set_link(broker_name(n), broker_name(p), Mode.PASS, delay_s)
            self.net.set_link(broker_name(p), broker_name(n), Mode.PASS, delay_s)

    def split(self, minority: Iterable[int], mode: Mode = Mode.DROP) -> None:
        """A network split: ``minority`` is cut from the other brokers and from etcd (which
        stays with the majority)."""
        side = set(minority)
        for n in side:
            self.cut_peers(n, [p for p in self.brokers if p not in side], mode)
            self.cut_etcd(n, mode)

    def _stall_file(self, n: int) -> Path:
        return self.work_dir / f"broker-{n}" / "disk-stall-ms"

    def stall_disk(self, n: int, ms: int) -> None:
        """Every write and sync of broker ``n`` waits ``ms`` first (0: a healthy disk)."""
        if not self.config.stallable_disks:
            raise RuntimeError("this cluster's brokers run without the stallable disk layer")
        write_stall(self._stall_file(n), ms)

    def heal(self) -> None:
        """Every link passes again and every disk is fast again."""
        self.net.heal()
        if self.config.stallable_disks:
            for n in self.brokers:
                if read_stall(self._stall_file(n)):
                    write_stall(self._stall_file(n), 0)

    # -- what the cluster says -----------------------------------------------------------------

    def _ask(self, query: Callable[[BrokerProcess], Any]) -> Any:
        last: Exception | None = None
        for n in self.serving():
            try:
                return query(self.brokers[n])
            except Exception as exc:  # the next serving broker may answer
                last = exc
        raise RuntimeError(f"no serving broker answered: {last!r}")

    def controller(self) -> int:
        """The active controller DescribeCluster names (-1 if none is known)."""
        return int(self._ask(lambda b: active_controller("127.0.0.1", b.port, timeout_s=5)))

    def partitions(self, topic: str, via: int | None = None) -> dict[int, PartitionState]:
        """Metadata of ``topic`` from broker ``via`` (or the first serving one)."""
        def query(b: BrokerProcess) -> dict[int, PartitionState]:
            md = _admin(b.bootstrap).list_topics(topic, timeout=10)
            t = md.topics.get(topic)
            if t is None or t.error is not None:
                raise RuntimeError(f"{topic}: {t.error if t is not None else 'missing'}")
            return {p: PartitionState(int(m.leader), tuple(m.replicas), tuple(m.isrs))
                    for p, m in t.partitions.items()}
        return dict(query(self.brokers[via]) if via is not None else self._ask(query))

    def coordinator(self, group: str) -> int:
        """The broker coordinating ``group`` (FindCoordinator, through DescribeGroups)."""
        def query(b: BrokerProcess) -> int:
            admin = _admin(b.bootstrap)  # must outlive the future
            described = admin.describe_consumer_groups([group], request_timeout=10)[group]
            described = described.result(15)
            return int(described.coordinator.id)
        return int(self._ask(query))

    def leader(self, topic: str, partition: int) -> int:
        return self.partitions(topic)[partition].leader

    def registered(self, via: int) -> set[int]:
        """The brokers Metadata from ``via`` lists (registered and not fenced)."""
        md = _admin(self.brokers[via].bootstrap).list_topics(timeout=10)
        return {int(b) for b in md.brokers}

    def settled_problem(self, topics: Iterable[str]) -> str | None:
        """Why the cluster is not settled yet, or None: every broker serves, lists all
        brokers, knows one controller, and agrees that each partition has a leader and a full
        ISR."""
        everyone = set(self.brokers)
        if set(self.serving()) != everyone:
            return f"serving {sorted(self.serving())}"
        views: dict[str, dict[int, PartitionState]] = {}
        controllers = set()
        try:
            for n in everyone:
                if (listed := self.registered(n)) != everyone:
                    return f"broker {n} lists brokers {sorted(listed)}"
                controllers.add(active_controller("127.0.0.1", self.brokers[n].port, 5))
                for topic in topics:
                    state = self.partitions(topic, via=n)
                    if (first := views.setdefault(topic, state)) != state:
                        return f"brokers disagree on {topic}: {first} vs {state}"
        except Exception as exc:  # a broker still starting or catching up
            return f"asking the cluster failed: {exc!r}"
        if len(controllers) != 1 or min(controllers) < 0:
            return f"controllers named: {sorted(controllers)}"
        unsettled = [f"{topic}-{p}: {s}" for topic, state in views.items()
                     for p, s in sorted(state.items()) if not s.settled]
        if unsettled:
            return f"{len(unsettled)} partitions unsettled: " + "; ".join(unsettled[:10])
        return None

    def wait_settled(self, topics: Iterable[str], timeout: float = 90.0) -> float:
        """Wait until :meth:`settled_problem` is None; the seconds it took."""
        wanted = list(topics)
        started = time.monotonic()
        problem: str | None = "not asked yet"
        while time.monotonic() - started < timeout:
            problem = self.settled_problem(wanted)
            if problem is None:
                return time.monotonic() - started
            time.sleep(0.25)
        raise TimeoutError(f"cluster not settled after {timeout}s: {problem}")

    def logs(self, tail: int = 3000) -> str:
        """The end of every broker's log and etcd's, for a failure message."""
        out = [f"--- broker {n} ---\n{b.output()[-tail:]}" for n, b in self.brokers.items()]
        if self.etcd.log_path.exists():
            out.append(f"--- etcd ---\n{self.etcd.log_path.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)
