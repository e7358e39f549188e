"""The live web view (issue 15): ``campaign-kpi serve``, pages pushed live from Redis."""
