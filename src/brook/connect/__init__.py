"""Kafka Connect-compatible worker: the connector SPI, the runtime and built-in connectors.

``api`` is the stable surface connectors are written against; ``runtime`` hosts them (worker,
herder, REST, converters, Kafka-backed stores); ``connectors`` holds the built-in plugins, which
see nothing but ``api`` so that a third-party connector has exactly the same footing.
"""
