"""Domain logic: plain async functions named for what they do (create_post, fan_out_post, ...)."""
