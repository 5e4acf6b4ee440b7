"""Tiering: hot index -> Parquet -> verify -> delete; restore; ledger."""
