"""miakit's version, in the dependency-free core so that any layer can read it without
importing the package root (``miakit/__init__.py`` re-exports it as ``miakit.__version__``).

Keep it equal to ``version`` in ``pyproject.toml`` (a test checks).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
