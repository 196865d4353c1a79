"""Kafka wire protocol codec.

* ``messages``: one generated module per API (``produce.ProduceRequest``/``ProduceResponse``,
  ...), the request/response headers, and the registries ``REQUESTS``, ``RESPONSES``,
  ``API_NAMES`` keyed by api key.
* ``metadata_records``, ``group_records``, ``txn_records``, ``raft_records``: generated
  record schemas of the KRaft metadata log, ``__consumer_offsets``, ``__transaction_state``
  and KRaft control records, each with a ``BY_TYPE`` registry.
* ``headers``, ``errors``, ``api_keys``, ``_codec``: hand-written support.

Generated from Apache Kafka's JSON message schemas by ``tools/codegen`` (``make codegen``).
Nothing is imported here, so importing one message module does not load all of them.
"""
