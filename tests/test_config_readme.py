"""config/README.md (the workflow catalog's configuration page) describes every section of the
schema and every key of each section."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
README = (ROOT / "config" / "README.md").read_text()


def test_every_top_level_section_has_a_heading():
    missing = [key for key in SCHEMA["properties"] if f"### `{key}`" not in README]
    assert not missing, f"config/README.md has no section for {missing}"


def test_every_key_of_every_section_is_named():
    missing = [
        f"{section}.{key}"
        for section, spec in SCHEMA["properties"].items()
        for key in spec.get("properties", {})
        if f"`{key}`" not in README
    ]
    assert not missing, f"config/README.md does not describe {missing}"


def test_every_key_of_a_task_a_model_and_a_study_is_named():
    nested = {
        "data.tasks": SCHEMA["$defs"]["task"],
        "train.models": SCHEMA["properties"]["train"]["$defs"]["model"],
        "train.studies": SCHEMA["properties"]["train"]["$defs"]["study"],
    }
    missing = [f"{where}.*.{key}" for where, spec in nested.items() for key in spec["properties"]]
    missing = [name for name in missing if f"`{name.rsplit('.', 1)[1]}`" not in README]
    assert not missing, f"config/README.md does not describe {missing}"


def test_every_profile_is_listed():
    missing = [p.name for p in (ROOT / "config").glob("*.yaml") if f"`config/{p.name}`" not in README]
    assert not missing, f"config/README.md does not say what {missing} are"
