"""A controller candidate in its own process, for fencing tests: ``python -m
tests.support.etcd_candidate ENDPOINT CLUSTER NODE_ID``.

It campaigns, prints ``elected <epoch>``, then appends ``node-<id>-<n>`` at the log end every
100 ms *without* consulting its lease — the zombie a paused controller is — printing
``appended <offset>``, until the store refuses it: then it prints ``fenced`` and exits 3.
"""

from __future__ import annotations

import asyncio
import sys

from brook.env.clock import SYSTEM_CLOCK
from brook.raft.etcd_client import EtcdClient, EtcdUnavailable, parse_endpoints
from brook.raft.etcd_election import EtcdControllerElection
from brook.raft.etcd_log import EtcdMetadataLog, cluster_prefix
from brook.raft.fenced import MetadataLogError, NotControllerError


async def main(endpoint: str, cluster: str, node_id: int) -> int:
    client = EtcdClient(parse_endpoints(endpoint))
    prefix = cluster_prefix(cluster)
    log = EtcdMetadataLog(client, prefix, SYSTEM_CLOCK)
    election = EtcdControllerElection(client, log.leader_key, node_id, f"inc-{node_id}", SYSTEM_CLOCK)
    leadership = await election.campaign()
    print(f"elected {leadership.epoch}", flush=True)
    n = 0
    while True:
        try:
            end = await log.end_offset()
            offset = await log.append(leadership, [f"node-{node_id}-{n}".encode()], end)
            print(f"appended {offset}", flush=True)
            n += 1
        except NotControllerError:
            print("fenced", flush=True)
            return 3
        except (EtcdUnavailable, MetadataLogError) as exc:
            print(f"retry {exc}", flush=True)
        await asyncio.sleep(0.1)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
