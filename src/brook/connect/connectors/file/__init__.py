"""Kafka's FileStreamSource/FileStreamSink: the smallest useful connectors, handy for demos."""
