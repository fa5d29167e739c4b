"""Reports: terminal tables and the self-contained HTML report."""

from miakit.report.html import render_report, write_report
from miakit.report.table import leaderboard

__all__ = ["leaderboard", "render_report", "write_report"]
