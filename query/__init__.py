"""Query: one filter model -> OpenSearch DSL and DuckDB SQL; hot+cold executor."""
