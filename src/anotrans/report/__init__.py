"""Run reports: one self-contained HTML page per run (``anotrans report RUN_DIR``)."""

from anotrans.report.page import REPORT_FILE, SECTIONS, build_report, write_report

__all__ = ["REPORT_FILE", "SECTIONS", "build_report", "write_report"]
