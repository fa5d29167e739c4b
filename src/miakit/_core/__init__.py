"""Dependency-free building blocks shared by the rest of miakit.

Nothing under ``miakit._core`` imports another part of miakit, so any module may use it
without import cycles.
"""
