"""The campaign report (issue 14): live KPI sets read back, rendered as HTML, PDF or JSON."""
