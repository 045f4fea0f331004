"""The HTTP kit every handler shares: request parsing, who is asking, app keys, errors, pagination, OpenAPI."""
