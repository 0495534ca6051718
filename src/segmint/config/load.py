"""Reading ``segmint.yaml`` into a :class:`Config`, with errors a person can act on."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from segmint.config.model import Config, SourceConfig
from segmint.errors import ConfigError

DEFAULT_CONFIG = "segmint.yaml"


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate a configuration.

    ``path`` None means ``segmint.yaml`` in the working directory, and no
    file there means the defaults. ``env`` (default ``os.environ``) supplies
    ``SEGMINT_WRITE_KEY`` and ``SEGMINT_SECRET_KEY``; it is read here, once,
    never at import time.
    """
    env = os.environ if env is None else env
    explicit = path is not None
    file = Path(path) if explicit else Path(DEFAULT_CONFIG)
    raw: Any = {}
    if file.exists():
        try:
            raw = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else "(top)"
            raise ConfigError(str(file), where, f"not valid YAML: {getattr(error, 'problem', error)}") from None
    elif explicit:
        raise ConfigError(str(file), "(file)", "no such file", "check the --config path")
    if not isinstance(raw, dict):
        raise ConfigError(str(file), "(top)", "the file must hold a mapping of sections",
                          "start with keys such as `sources:` and `segments:`")
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        raise _config_error(str(file), error) from None
    return _with_environment(config, env).model_copy(
        update={"source_file": str(file), "base_dir": str(file.resolve().parent)}
    )


def _with_environment(config: Config, env: Mapping[str, str]) -> Config:
    update: dict[str, Any] = {}
    write_key = env.get("SEGMINT_WRITE_KEY")
    if write_key and config.source_for_key(write_key) is None:
        names = {s.name for s in config.sources}
        name = "default" if "default" not in names else "env"
        update["sources"] = (*config.sources, SourceConfig(name=name, write_key=write_key))
    secret = env.get("SEGMINT_SECRET_KEY")
    if secret:
        update["secret_key"] = secret
    return config.model_copy(update=update) if update else config


def _config_error(file: str, error: ValidationError) -> ConfigError:
    """The first problem, as file + dotted key + what would be valid."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top)"
    kind = first["type"]
    message = first["msg"].removeprefix("Value error, ")
    fix = None
    if kind == "extra_forbidden":
        parent = first["loc"][:-1]
        allowed = _allowed_keys(parent)
        message = "unknown key"
        fix = f"valid keys here: {', '.join(allowed)}" if allowed else "remove it"
    elif kind == "literal_error":
        fix = message
        message = f"invalid value {first.get('input')!r}"
    elif kind == "missing":
        message = "required key is missing"
    more = len(error.errors()) - 1
    if more:
        fix = (fix + "; " if fix else "") + f"and {more} more problem{'s' if more > 1 else ''}"
    return ConfigError(file, key, message, fix)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys a model accepts at ``loc`` (for 'did you mean' style help)."""
    model: Any = Config
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if field is None:
            # a key of a mapping section (imports.NAME): _inner_model has
            # already stepped into the mapping's value type
            continue
        model = _inner_model(field.annotation)
    if model is None or not hasattr(model, "model_fields"):
        return []
    return [name for name, f in model.model_fields.items() if not f.exclude]


def _inner_model(annotation: Any) -> Any:
    from typing import get_args

    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
