"""A tiny JSON Schema checker for the keywords our shipped schemas use, when jsonschema is absent.

Supports ``type``, ``enum``, ``required``, ``properties``, ``additionalProperties: false``,
``items``, ``minimum``, ``anyOf`` and local ``$ref`` (``#/definitions/...``). Errors read like
``tests[0].score: 'a' is not of type 'number'``.
"""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "integer": (int,),
    "null": (type(None),),
}


def _is_type(value: Any, name: str) -> bool:
    """JSON type test; booleans are not numbers."""
    if name in ("number", "integer") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def _where(path: str) -> str:
    """A location prefix for a message (empty at the document root)."""
    return f"{path}: " if path else ""


def check(
    instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, path: str = ""
) -> list[str]:
    """Every way ``instance`` violates ``schema``, as readable strings (empty when valid)."""
    root = root if root is not None else schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return check(instance, target, root, path)
    errors: list[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(_is_type(instance, n) for n in names):
            kind = " or ".join(repr(n) for n in names)
            return [f"{_where(path)}{instance!r} is not of type {kind}"]
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{_where(path)}{instance!r} is not one of {schema['enum']!r}")
    if "minimum" in schema and _is_type(instance, "number") and instance < schema["minimum"]:
        errors.append(f"{_where(path)}{instance!r} is less than the minimum {schema['minimum']}")
    if isinstance(instance, dict):
        errors += _check_object(instance, schema, root, path)
    if isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            errors += check(item, schema["items"], root, f"{path}[{i}]")
    if "anyOf" in schema and not any(not check(instance, s, root, path) for s in schema["anyOf"]):
        errors.append(f"{_where(path)}does not match any of the allowed forms (anyOf)")
    return errors


def _check_object(
    instance: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: str
) -> list[str]:
    """``required``, ``properties`` and ``additionalProperties: false`` for one object."""
    errors = [
        f"{_where(path)}{key!r} is a required property"
        for key in schema.get("required", [])
        if key not in instance
    ]
    props = schema.get("properties", {})
    for key, value in instance.items():
        sub = f"{path}.{key}" if path else key
        if key in props:
            errors += check(value, props[key], root, sub)
        elif schema.get("additionalProperties") is False:
            errors.append(f"{_where(path)}additional property {key!r} is not allowed")
    return errors
