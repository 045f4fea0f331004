"""The ground floor: ids, times, metrics, the errors a client sees and `Page`; no web framework, no store."""
