"""Settings dataclasses from the validated config: ``from_mapping`` builds one and refuses
unknown keys. Jobs import this (not ``config``, which holds the schema validation that the
workflow runs before any job), so editing the validation does not rerun them."""

from __future__ import annotations

import dataclasses


class ConfigError(ValueError):
    """A config value violates the schema or a cross-field rule."""


def from_mapping(cls, values: dict, where: str):
    """Build the settings dataclass ``cls`` from a config mapping, refusing unknown keys.

    ``where`` names the config section in the error (``train.measure``). Lists become tuples
    so the settings are hashable and immutable.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"config error: {where}: unknown keys {unknown}; accepted: {sorted(names)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
