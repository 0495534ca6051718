"""The one exception tree of segmint.

    SegmintError                 every error segmint raises on purpose
    ├── ConfigError              a configuration file is wrong: names file, key, fix
    ├── StoreError               the store cannot be opened, upgraded or written
    │   └── StoreBusyError       another process holds the store for writing
    ├── IngestError              a request or file cannot be ingested at all
    │   ├── AuthError            missing or unknown write key (HTTP 401)
    │   ├── PayloadError         body is not JSON, is too large, ... (HTTP 4xx)
    │   └── MappingError         a CSV/Parquet column mapping does not fit the file
    ├── NotFoundError            an id, segment or model that does not exist
    └── DefinitionError          a segment or trait definition is invalid

Messages say what was wrong, where, and how to fix it; the CLI prints them
without a traceback.
"""

from __future__ import annotations


class SegmintError(Exception):
    """Root of every error segmint raises on purpose."""


class ConfigError(SegmintError):
    """A configuration file is invalid."""

    def __init__(self, file: str, key: str, problem: str, fix: str | None = None) -> None:
        self.file, self.key, self.problem, self.fix = file, key, problem, fix
        text = f"{file}: {key}: {problem}"
        if fix:
            text += f" ({fix})"
        super().__init__(text)


class StoreError(SegmintError):
    """The store cannot be opened, upgraded or written."""


class StoreBusyError(StoreError):
    """Another process holds the store for writing and offers no way in."""


class IngestError(SegmintError):
    """A request or a file cannot be ingested at all."""

    status = 400


class AuthError(IngestError):
    status = 401


class PayloadError(IngestError):
    """The body cannot be read: not JSON, too large, wrong shape."""

    def __init__(self, reason: str, status: int = 400) -> None:
        self.status = status
        super().__init__(reason)


class MappingError(IngestError):
    """A table mapping does not fit the file it is applied to."""


class NotFoundError(SegmintError):
    """An id, segment or model that does not exist."""


class DefinitionError(SegmintError):
    """A segment or trait definition is invalid."""
