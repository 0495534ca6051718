"""The project configuration (``segmint.yaml``): loaded once, validated, passed down."""

from segmint.config.load import DEFAULT_CONFIG, load_config
from segmint.config.model import (
    Config,
    IdentifierConfig,
    IdentityConfig,
    ImportMapping,
    ServerConfig,
    SourceConfig,
)

__all__ = [
    "DEFAULT_CONFIG",
    "Config",
    "IdentifierConfig",
    "IdentityConfig",
    "ImportMapping",
    "ServerConfig",
    "SourceConfig",
    "load_config",
]
