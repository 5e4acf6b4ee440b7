"""Tiering: daily hot indices -> verified Parquet partitions (the cold tier); restore; ledger.

Public entry points: :func:`tiering.service.run_tiering`, :func:`tiering.service.tier_status`,
:func:`tiering.service.restore_day`, :func:`tiering.cold_read.cold_connection` and
:func:`tiering.store.open_store`.
"""
