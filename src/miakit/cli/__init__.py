"""The ``miakit`` command line."""
