"""One-shot readiness checks, speaking just enough of each protocol (no client libraries, no event loop).

Each probe raises OSError while nothing listens yet; the caller retries until its deadline.
"""

from __future__ import annotations

import http.client
import socket
import struct
from enum import Enum

TIMEOUT = 2.0


class PgState(Enum):
    READY = "ready"
    STARTING = "starting"  # up, but still recovering or not yet accepting connections
    NO_DATABASE = "no database"


def postgres(port: int, database: str, user: str = "postgres") -> tuple[PgState, str]:
    """Open a session with a StartupMessage and read until ReadyForQuery or an error (trust: no password).

    The server says AuthenticationOk before it looks the database up, so that alone proves nothing.
    """
    params = f"user\0{user}\0database\0{database}\0\0".encode()
    startup = struct.pack("!ii", 8 + len(params), 196608) + params  # protocol 3.0
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as conn:
        conn.sendall(startup)
        while True:
            kind = _recv_exact(conn, 1)
            length = struct.unpack("!i", _recv_exact(conn, 4))[0]
            body = _recv_exact(conn, length - 4)
            if kind == b"Z":  # ReadyForQuery
                conn.sendall(b"X\0\0\0\4")  # Terminate
                return PgState.READY, ""
            if kind == b"E":
                fields = _error_fields(body)
                if fields.get("C") == "3D000":  # invalid_catalog_name
                    return PgState.NO_DATABASE, fields.get("M", "")
                return PgState.STARTING, fields.get("M", "")
            if kind not in (b"R", b"S", b"K", b"N", b"v"):  # auth, parameters, key data, notices
                return PgState.STARTING, f"unexpected message {kind!r}"


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError("postgres closed the connection")
        data += chunk
    return data


def _error_fields(body: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


def redis_ping(port: int) -> bool:
    """PING answers +PONG once the data set is loaded (-LOADING before)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(64).startswith(b"+PONG")


def http_get(port: int, path: str) -> tuple[int, bytes]:
    """A plain GET on 127.0.0.1, bypassing any proxy settings from the environment."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as exc:  # a garbled answer; socket errors are OSError already
        raise ConnectionError(str(exc)) from exc
    finally:
        conn.close()
