"""The process roots: the app factory, the `chirp` command, the launcher, logs and the rate limit."""
