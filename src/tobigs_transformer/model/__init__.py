"""The model: flat modules that import each other with single-dot imports only.

This folder is exactly what every saved folder ships as remote code (`remote_code.py` copies its modules), so it
imports nothing from the rest of the package.  The public names are re-exported by `tobigs_transformer` itself.
"""
