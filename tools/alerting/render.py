"""YAML output shared by the generators: block style for multi-line PromQL, no anchors."""

from __future__ import annotations

from typing import Any

import yaml


class Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # write shared lists out in full
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, _str)


def dump(data: Any) -> str:
    return str(yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=1000))
