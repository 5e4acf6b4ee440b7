"""Ingest: sources (files, S3, SQS, Firehose) -> parse -> bulk index; checkpoints; dead-letter."""
