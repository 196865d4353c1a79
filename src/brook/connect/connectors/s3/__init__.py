"""The S3 sink, configured with the keys of Confluent's ``io.confluent.connect.s3.S3SinkConnector``."""
