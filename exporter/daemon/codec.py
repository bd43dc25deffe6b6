"""Plain JSON to and from typed, frozen data, driven by the type the caller expects.

`encode` turns dataclasses, pydantic models, enums, tuples and mappings into plain JSON values
(no type tags). `decode(T, data)` rebuilds a T by walking T's declared type hints and rejects
anything that does not fit, so a file is data, never a say in which classes get built: nothing
is looked up by name. Fields typed `Any` take plain JSON as it is; where `Any` stands for a
type only the context knows (a check's result type), `overrides` names it.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T")
Overrides = Mapping[tuple[type, str], Any]  # (dataclass, field name) -> the type to decode that field as

MAX_DEPTH = 64  # the data here nests a handful of levels; deeper is not ours
_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class CodecError(ValueError):
    """A value that cannot be encoded, or data that does not fit the expected type; `path` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


# -- encoding ------------------------------------------------------------------------------


def encode(value: Any, path: str = "$") -> Any:
    """Plain JSON (dict, list, str, int, float, bool, None) for `value`; CodecError if it has no such form."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        return encode(value.value, path)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        # JSON has no NaN or infinity; spelled as JavaScript does, and decoded back for float fields.
        return value if math.isfinite(value) else ("NaN" if math.isnan(value) else
                                                   "Infinity" if value > 0 else "-Infinity")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name), f"{path}.{f.name}") for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        if all(isinstance(k, str) for k in value):
            return {k: encode(v, f"{path}.{k}") for k, v in value.items()}
        return [[encode(k, path), encode(v, f"{path}[{k!r}]")] for k, v in value.items()]
    if isinstance(value, (tuple, list, set, frozenset)):
        return [encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise CodecError(path, f"cannot encode a {type(value).__name__}")


# -- decoding ------------------------------------------------------------------------------


def decode(expected: Any, data: Any, overrides: Overrides | None = None) -> Any:
    """`data` (plain JSON) as an instance of `expected`, or CodecError."""
    return _Decoder(overrides or {}).decode(expected, data, "$", 0)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


class _Decoder:
    def __init__(self, overrides: Overrides) -> None:
        self.overrides = overrides

    def decode(self, tp: Any, data: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise CodecError(path, f"nested deeper than {MAX_DEPTH} levels")
        if tp is Any or tp is object:
            return _plain(data, path, depth)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Union or origin is types.UnionType:
            return self._union(args, data, path, depth)
        if origin is typing.Literal:
            if any(data == a and type(data) is type(a) for a in args):
                return data
            raise CodecError(path, f"expected one of {list(args)!r}")
        if tp is type(None) or tp is None:
            if data is None:
                return None
            raise CodecError(path, "expected null")
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            try:
                return tp(data)
            except (ValueError, TypeError):
                raise CodecError(path, f"not a {tp.__name__} value") from None
        if tp is bool:
            return _check(data, bool, path)
        if tp is int:
            if isinstance(data, bool) or not isinstance(data, int):
                raise CodecError(path, "expected an integer")
            return data
        if tp is float:
            if isinstance(data, str) and data in _FLOATS:
                return _FLOATS[data]
            if isinstance(data, bool) or not isinstance(data, (int, float)):
                raise CodecError(path, "expected a number")
            return float(data)
        if tp is str:
            return _check(data, str, path)
        if tp is bytes:
            try:
                return bytes.fromhex(_check(data, str, path))
            except ValueError:
                raise CodecError(path, "expected hexadecimal bytes") from None
        if origin in (tuple, list, set, frozenset) or tp in (tuple, list, set, frozenset):
            return self._sequence(origin or tp, args, data, path, depth)
        if origin in (dict, Mapping) or tp in (dict, Mapping):
            return self._mapping(args, data, path, depth)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            try:
                return tp.model_validate(data)
            except ValidationError as exc:
                raise CodecError(path, f"not a valid {tp.__name__}: {exc.errors()[0]['msg']}") from None
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self._dataclass(tp, data, path, depth)
        raise CodecError(path, f"no decoding for the type {tp!r}")

    def _union(self, arms: tuple[Any, ...], data: Any, path: str, depth: int) -> Any:
        if data is None and type(None) in arms:
            return None
        for arm in arms:
            if arm is type(None):
                continue
            try:
                return self.decode(arm, data, path, depth)
            except CodecError:
                continue
        raise CodecError(path, "fits none of " + " | ".join(getattr(a, "__name__", str(a)) for a in arms))

    def _sequence(self, kind: Any, args: tuple[Any, ...], data: Any, path: str, depth: int) -> Any:
        items = _check(data, list, path)
        if kind is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                raise CodecError(path, f"expected {len(args)} items, got {len(items)}")
            return tuple(self.decode(a, v, f"{path}[{i}]", depth + 1) for i, (a, v) in enumerate(zip(args, items, strict=True)))
        item_type = args[0] if args else Any
        values = [self.decode(item_type, v, f"{path}[{i}]", depth + 1) for i, v in enumerate(items)]
        return {tuple: tuple, list: list, set: set, frozenset: frozenset}[kind](values)

    def _mapping(self, args: tuple[Any, ...], data: Any, path: str, depth: int) -> dict[Any, Any]:
        key_type, value_type = args if len(args) == 2 else (Any, Any)
        if isinstance(data, dict):
            pairs = list(data.items())
        elif isinstance(data, list) and all(isinstance(p, list) and len(p) == 2 for p in data):
            pairs = [(p[0], p[1]) for p in data]
        else:
            raise CodecError(path, "expected an object or a list of [key, value] pairs")
        return {self.decode(key_type, k, f"{path}.<key>", depth + 1): self.decode(value_type, v, f"{path}.{k}", depth + 1)
                for k, v in pairs}

    def _dataclass(self, cls: type, data: Any, path: str, depth: int) -> Any:
        fields = _check(data, dict, path)
        declared = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = set(fields) - set(declared)
        if unknown:
            raise CodecError(path, f"unknown field(s) {sorted(unknown)[:5]} for {cls.__name__}")
        hints = _hints(cls)
        values = {}
        for name, field in declared.items():
            if name not in fields:
                if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                    raise CodecError(path, f"missing field {name!r} of {cls.__name__}")
                continue
            field_type = self.overrides.get((cls, name), hints[name])
            values[name] = self.decode(field_type, fields[name], f"{path}.{name}", depth + 1)
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise CodecError(path, f"{cls.__name__} refused the data: {exc}") from None


def _check(data: Any, kind: type[T], path: str) -> T:
    if not isinstance(data, kind) or (kind is not bool and isinstance(data, bool)):
        raise CodecError(path, f"expected {_JSON_NAMES.get(kind, kind.__name__)}, got {_json_name(data)}")
    return data


_JSON_NAMES = {str: "a string", list: "a list", dict: "an object", bool: "true or false"}


def _json_name(data: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(data), "a number")


def _plain(data: Any, path: str, depth: int) -> Any:
    """Plain JSON taken as it is for `Any` fields, with the same depth bound."""
    if depth > MAX_DEPTH:
        raise CodecError(path, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(data, dict):
        return {k: _plain(v, path, depth + 1) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v, path, depth + 1) for v in data]
    return data
