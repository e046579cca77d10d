"""Results: read run directories into tables, compare methods across seeds, leaderboard, plots, report.

Only run directories are read; nothing in the engine imports this package.
"""

from nasbench_harness.results.leaderboard import LEADERBOARD_COLUMNS, SCHEMA_VERSION, leaderboard, write_leaderboard
from nasbench_harness.results.load import Results, find_run_dirs, load_results, select_sweeps, write_tables
from nasbench_harness.results.report import Report, write_report
from nasbench_harness.results.tables import comparison, render_markdown, render_text, sections

__all__ = [
    "LEADERBOARD_COLUMNS",
    "SCHEMA_VERSION",
    "Report",
    "Results",
    "comparison",
    "find_run_dirs",
    "leaderboard",
    "load_results",
    "render_markdown",
    "render_text",
    "sections",
    "select_sweeps",
    "write_leaderboard",
    "write_report",
    "write_tables",
]
