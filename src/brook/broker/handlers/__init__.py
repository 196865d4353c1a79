"""One module per Kafka API, named after the API (``produce.py`` serves Produce).

Each module defines ``API_KEY``, ``MIN_VERSION``, ``MAX_VERSION``, ``REQUEST`` and
``handle(ctx, request)``; ``brook.broker.dispatch`` builds the dispatch table and the
ApiVersions answer from them.
"""
