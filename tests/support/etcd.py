"""A real etcd for tests: :mod:`brook.testing.etcd` (the cluster fault harness uses it too)."""

from brook.testing.etcd import EtcdServer, etcd_fixture

__all__ = ["EtcdServer", "etcd_fixture"]
