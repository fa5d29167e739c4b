"""Reports: terminal tables (and later the HTML report)."""

from miakit.report.table import leaderboard

__all__ = ["leaderboard"]
