"""Storage: one module per concept, each holding the explicit SQL (or Valkey commands) it runs."""
