"""The optional native fast path: the ``wafsiem-native`` package (Rust, in ``native/``).

``wafsiem_native.Transformer(hash_key, sensitive_headers, keep_original).build(raw)``
turns one record's bytes into ``(event id, @timestamp ms, document JSON bytes)``, the
exact bytes ``orjson.dumps`` gives for the document of
:func:`ingest.parser.transform.build_document`, or returns ``None`` for any record it is
not certain about (an unusual type or shape, a float, deep nesting, invalid JSON...); the
Python paths then decide, so the results never depend on whether it is installed.
``tests/unit/test_parser_native.py`` holds it to that, record by record.

It is optional: ``pip install ./native`` (``scripts/dev setup`` does it) builds it with
Rust; without it, or with ``WAFSIEM_PARSER__NATIVE=false``, the parser is pure Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingest.parser.options import ParserOptions

# one record's bytes -> (event id, timestamp ms, document JSON) or None (not handled)
NativeBuild = Callable[[bytes], tuple[str, int, bytes] | None]

_builders: dict[tuple[bytes, frozenset[str], bool], NativeBuild] = {}


def _module() -> Any:
    try:
        import wafsiem_native  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return wafsiem_native


def native_available() -> bool:
    """Whether the ``wafsiem-native`` package is installed."""
    return _module() is not None


def native_builder(options: ParserOptions) -> NativeBuild | None:
    """The native ``build`` for ``options``, or None when it is off or not installed."""
    if not options.native:
        return None
    key = (options.hash_key, options.sensitive_headers, options.keep_original)
    build = _builders.get(key)
    if build is None:
        module = _module()
        if module is None:
            return None
        transformer = module.Transformer(
            options.hash_key, sorted(options.sensitive_headers), options.keep_original
        )
        if len(_builders) > 64:
            _builders.clear()
        build = _builders[key] = transformer.build
    return build
