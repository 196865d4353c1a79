"""brook: a self-hosted, Kafka-wire-compatible streaming platform."""

__version__ = "0.1.0"
