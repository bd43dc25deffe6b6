"""Config errors in the operator's words: what shape was expected, and "did you mean" for near misses.

pydantic's messages name Python classes ("valid dictionary or instance of DnsValidationConfig");
these walk the config model to the failing key and describe it the way the YAML reads.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails


def _unwrap(annotation: Any) -> Any:
    """Optional[X] -> X, Annotated[X, ...] -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose keys sit at `loc` (a key path through mappings and lists), or None."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            if typing.get_origin(current) in (tuple, list):
                current = typing.get_args(current)[0]
                continue
            return None
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    current = _unwrap(current)
    if typing.get_origin(current) in (tuple, list):  # a list of mappings: each entry is the model
        current = _unwrap(typing.get_args(current)[0])
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def describe_mapping(model: type[BaseModel]) -> str:
    required = [f"`{n}`" for n, f in model.model_fields.items() if f.is_required()]
    optional = [f"`{n}`" for n, f in model.model_fields.items() if not f.is_required()]
    parts = []
    if required:
        parts.append(" and ".join(required) if len(required) < 3 else ", ".join(required))
    if optional:
        shown = ", ".join(optional[:6]) + (", ..." if len(optional) > 6 else "")
        parts.append(("optionally " if required else "any of ") + shown)
    return "expected a mapping with " + " and ".join(parts) if parts else "expected a mapping"


def explain(root: type[BaseModel], err: ErrorDetails, loc: tuple[Any, ...]) -> str:
    """One error's message, in the config's own terms."""
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = model_at(root, loc[:-1])
        key = str(loc[-1]) if loc else ""
        hint = ""
        if parent is not None:
            close = difflib.get_close_matches(key, list(parent.model_fields), n=1, cutoff=0.6)
            if close:
                hint = f"; did you mean `{close[0]}`?"
        return f"unknown key (not allowed here){hint}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        model = model_at(root, loc)
        got = type(err.get("input")).__name__
        if model is not None:
            return f"{describe_mapping(model)}, got {_yaml_type(got)}"
    if kind == "missing":
        return "required key is missing"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {_yaml_type(type(err.get('input')).__name__)}"
    return str(err["msg"]).removeprefix("Value error, ")


def _yaml_type(python_name: str) -> str:
    return {"str": "a string", "int": "a number", "float": "a number", "bool": "true/false", "list": "a list",
            "dict": "a mapping", "NoneType": "nothing (an empty value)"}.get(python_name, python_name)
