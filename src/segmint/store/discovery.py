"""How other commands find a server that holds the store.

``segmint serve`` writes ``<store>.server.json`` (readable by its owner
only) with its URL and an admin token; commands that find the store locked
read it and send their queries to the server instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass(frozen=True)
class ServerInfo:
    url: str
    token: str
    pid: int = 0


def info_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".server.json")


def write_info(db_path: Path, info: ServerInfo) -> None:
    path = info_path(db_path)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(orjson.dumps({"url": info.url, "token": info.token, "pid": os.getpid()}))
    os.replace(tmp, path)


def read_info(db_path: Path) -> ServerInfo | None:
    try:
        data = orjson.loads(info_path(db_path).read_bytes())
        return ServerInfo(url=data["url"], token=data["token"], pid=int(data.get("pid", 0)))
    except (OSError, ValueError, KeyError):
        return None


def remove_info(db_path: Path, token: str) -> None:
    current = read_info(db_path)
    if current is not None and current.token == token:
        info_path(db_path).unlink(missing_ok=True)
