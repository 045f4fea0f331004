"""Background workers: the job runner and the jobs it runs (fan-out, indexing, media)."""
