"""Live delivery: websocket and server-sent-event connections per user, fed by Valkey pub/sub."""
