"""The baseline chat API, as it stood before the agent integration, may only be extended.

`openapi_baseline.json` is the OpenAPI document of the foundation. Every path, operation,
parameter, request and response schema in it must still be there with the same meaning: new
paths, new optional request fields and new response fields are fine; a removed or renamed field,
a changed type, a parameter or request field that became required, or a narrowed enum is not.
"""

import json
from pathlib import Path
from typing import Any

from tests.api.conftest import Api

BASELINE = json.loads((Path(__file__).parent / "openapi_baseline.json").read_text())
IGNORED = {"description", "summary", "title", "examples", "info", "tags", "operationId"}


def breaks(old: Any, new: Any, where: str = "$") -> list[str]:
    """Where `new` fails to be a backward-compatible extension of `old`."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{where}: was an object"]
        found = []
        for key, value in old.items():
            if key in IGNORED:
                continue
            if key not in new:
                found.append(f"{where}.{key}: removed")
            elif key == "required" and isinstance(value, list):
                continue  # response shapes may promise more; request shapes: see below
            elif key == "required":
                if value is False and new[key] is True:
                    found.append(f"{where}.required: became required")
            else:
                found += breaks(value, new[key], f"{where}.{key}")
        return found
    if isinstance(old, list):
        if not isinstance(new, list):
            return [f"{where}: was a list"]
        if where.endswith(".enum"):
            missing = [item for item in old if item not in new]
            return [f"{where}: lost {missing}"] if missing else []
        found = []
        for index, item in enumerate(old):
            match = _counterpart(item, new)
            if match is None:
                found.append(f"{where}[{index}]: removed")
            else:
                found += breaks(item, match, f"{where}[{index}]")
        return found
    return [] if old == new else [f"{where}: {old!r} became {new!r}"]


def _counterpart(item: Any, items: list[Any]) -> Any:
    if isinstance(item, dict) and "name" in item:
        return next(
            (x for x in items if isinstance(x, dict) and x.get("name") == item["name"]), None
        )
    if isinstance(item, dict):
        return next((x for x in items if not breaks(item, x)), None)
    return item if item in items else None


def stricter_requests(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Request bodies that now require a field the baseline's clients do not send."""
    bodies = json.dumps(old["paths"])
    requests = [name for name in old["components"]["schemas"] if f'/{name}"' in bodies]
    found = []
    for name in requests:
        before = set(old["components"]["schemas"][name].get("required", []))
        after = set(new["components"]["schemas"].get(name, {}).get("required", []))
        if after - before:
            found.append(f"{name} now requires {sorted(after - before)}")
    return found


def test_the_baseline_api_is_only_ever_extended(api: Api) -> None:
    current = api.client.get("/schema/openapi.json").json()
    problems = breaks(BASELINE["paths"], current["paths"], "$.paths")
    problems += breaks(
        BASELINE["components"]["schemas"], current["components"]["schemas"], "$.schemas"
    )
    problems += stricter_requests(BASELINE, current)
    assert problems == []


def test_the_comparison_catches_breaking_changes() -> None:
    old = {
        "paths": {"/x": {"post": {"requestBody": {"required": ["a"]}}}},
        "s": {"properties": {"a": {"type": "string"}, "b": {"enum": ["x", "y"]}}},
    }
    assert breaks(old, old) == []
    renamed = {
        "paths": old["paths"],
        "s": {"properties": {"c": {"type": "string"}, "b": {"enum": ["x", "y"]}}},
    }
    assert breaks(old, renamed)
    retyped = {
        "paths": old["paths"],
        "s": {"properties": {"a": {"type": "integer"}, "b": {"enum": ["x", "y"]}}},
    }
    assert breaks(old, retyped)
    narrowed = {
        "paths": old["paths"],
        "s": {"properties": {"a": {"type": "string"}, "b": {"enum": ["x"]}}},
    }
    assert breaks(old, narrowed)
    request = {
        "paths": {"/x": {"post": {"$ref": "#/components/schemas/In"}}},
        "components": {"schemas": {"In": {"required": ["a"]}}},
    }
    stricter = {
        "paths": request["paths"],
        "components": {"schemas": {"In": {"required": ["a", "z"]}}},
    }
    assert stricter_requests(request, request) == []
    assert stricter_requests(request, stricter) == ["In now requires ['z']"]
    extended = {
        "paths": {**old["paths"], "/y": {}},
        "s": {"properties": {**old["s"]["properties"], "agent": {"type": "object"}}},
    }
    assert breaks(old, extended) == []
