"""Lab helpers for tests: a config for one lab scenario, and running a coroutine to completion."""

from __future__ import annotations

import asyncio
from typing import Any

from exporter.config import Config
from sslfault_lab.demo import lab_config_dict
from sslfault_lab.lab import Lab


def config_for(lab: Lab, scenario: str, **target_overrides: Any) -> Config:
    """A config with just one lab scenario as its target."""
    data = lab_config_dict(lab)
    data["targets"] = [{**t, **target_overrides} for t in data["targets"] if t["name"] == scenario]
    assert data["targets"], f"no lab scenario {scenario!r}"
    return Config.model_validate(data)


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
