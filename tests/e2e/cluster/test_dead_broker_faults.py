"""What must not be taken for a dead broker, against a real etcd and real broker processes.

A broker started on a copy of a running broker's data directory, with the same configuration,
finds the running broker's incarnation recorded there and its own endpoints in that broker's
registration: the directory's lock does not tell it anything (a copy is another file), so it
must not end that session; the running broker's listener still accepting is the proof that
its process is alive."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster.test_cluster_lifecycle import _broker_history, _eventually_history
from tests.support.brokers import plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture

CLUSTER_ID = "brook-e2e-lifecycle"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


def test_a_broker_on_a_copy_of_a_live_brokers_directory_does_not_end_its_session(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    props = {"metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
             "broker.session.timeout.ms": "3000"}
    live = plain_broker(tmp_path / "live" / "data", node_id=1, overrides=props)
    live.start()
    copy = None
    try:
        before = _eventually_history(etcd, 1, lambda h: len(h) >= 1)
        shutil.copytree(live.data_dir, tmp_path / "copy" / "data")
        copy = plain_broker(tmp_path / "copy" / "data", node_id=1, overrides=props,
                            port=live.port)
        copy.started_once = True  # the same port on purpose: no retry on another one
        with pytest.raises((RuntimeError, TimeoutError)):
            copy.start(timeout=40)
        assert copy.proc is not None
        try:
            copy.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the copy kept running:\n{copy.output()[-3000:]}")
        time.sleep(2)  # a revoked session would be seen by the live broker's next renewal
        assert live.alive(), live.output()[-3000:]
        after = _broker_history(etcd, 1)
        assert after == before, f"the live broker was fenced: {after}"
        assert "ended the session of this broker's previous process" not in copy.output()
    finally:
        if copy is not None:
            copy.kill()
        live.stop()
