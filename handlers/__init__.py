"""HTTP handlers: parse the request, authorise, call the domain, shape the response. Nothing else."""
