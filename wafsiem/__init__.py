"""wafsiem shared core: settings, the WAF record schema, clients, the CLI root, the local stack.

Importing this package builds nothing: no settings, clients or connections.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
