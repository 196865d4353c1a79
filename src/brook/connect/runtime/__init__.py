"""The worker: hosts connectors and tasks, keeps their state in Kafka, serves the REST API."""
