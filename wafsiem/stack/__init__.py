"""The local stack: real servers (OpenSearch, S3Proxy, ElasticMQ, moto) as processes."""
