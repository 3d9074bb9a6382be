"""The manifest JSON Schema: loading it, checking documents against it, and explaining failures.

jsonschema needs ~0.6 ms per manifest and ~0.2 s to import, too slow for `validate` on big trees,
so documents first go through fastjsonschema, which compiles the same schema file to Python. Only
documents it rejects are handed to jsonschema, which stays the authority: its errors (located,
explained) are the ones reported, and if it finds none the document is valid.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import json
import re
from pathlib import Path

from reconciler.errors import Problem
from reconciler.manifest.yamlsrc import Document, label

SCHEMA_FILE = "manifest.v1.json"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # reconciler/


def schema_path() -> Path:
    # the wheel ships the schema inside the package; a source checkout has it at the repo top
    candidates = (_PACKAGE_DIR / "schemas" / SCHEMA_FILE, _PACKAGE_DIR.parent / "schemas" / SCHEMA_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{SCHEMA_FILE} not found next to {_PACKAGE_DIR}")


@functools.cache
def schema_text() -> str:
    return schema_path().read_text(encoding="utf-8")


@functools.cache
def load_schema() -> dict:
    return json.loads(schema_text())


# A hostile document can violate the schema a million times (a 1 MiB list of wrong items); past
# this many errors per document the rest only repeats them and jsonschema would take minutes.
# (One more is kept, so that the report can say there were more.)
MAX_ERRORS_PER_DOCUMENT = 100


@functools.cache
def validator():
    from jsonschema import Draft202012Validator, ValidationError, validators

    def unique_items(validator, unique, instance, schema):
        # jsonschema compares unhashable items pairwise: minutes for a long list of mappings
        if unique and validator.is_type(instance, "array") and not _unique(instance):
            yield ValidationError("has non-unique elements")

    cls = validators.extend(Draft202012Validator, validators={"uniqueItems": unique_items})
    return cls(load_schema())


def validate(doc: Document) -> list[Problem]:
    """Every schema violation in `doc`, located at the offending key or value."""
    fast = _fast_check()
    if fast is not None and fast(doc.data):
        return []
    errors = list(itertools.islice(validator().iter_errors(doc.data), MAX_ERRORS_PER_DOCUMENT + 1))
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    problems: set[Problem] = set()
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator != "type" and path in typed:
            continue  # "expected a string" says it all; enum/pattern on the same value would repeat it
        # never drop an error jsonschema found, even one the explanations do not cover
        message = f"{label(path)}: {error.message}" if path else error.message
        problems.update(_explain(error, path, doc) or [Problem(doc.positions.value(path), message)])
    return sorted(problems, key=lambda p: (p.location, p.message))


# ---- explaining jsonschema errors -------------------------------------------------------------

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}
_PATTERN_HINTS = {
    "^[A-Za-z0-9_-]{1,255}$": "an alias is 1 to 255 letters, digits, '_' or '-'",
    "^[1-9][0-9]*$": "a version number is 1, 2, 3, ...",
    "^(Staging|Production|@[A-Za-z0-9_-]{1,255})$": 'a gate\'s target is Staging, Production or "@<alias>"',
}
# dependentRequired keys that need their partner rather than being options of it
_NEEDS = {"tag": "the value the tag must have"}


def _got(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return "a mapping" if isinstance(value, dict) else "a list"


def _suggest(value: str, options) -> str:
    options = [o for o in options if isinstance(o, str)]
    lowered = value.lower()
    match = [o for o in options if o.lower() == lowered]
    match = match or [o for o in options if lowered and o.lower().startswith(lowered)]
    match = match or difflib.get_close_matches(value, options, n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def _explain(error, path: tuple, doc: Document) -> list[Problem]:
    pos, kw, arg, instance = doc.positions, error.validator, error.validator_value, error.instance
    where = label(path)

    def at(location, message: str) -> Problem:
        return Problem(location, f"{where}: {message}" if where else message)

    if kw == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extras = [k for k in instance if k not in allowed and not any(re.search(p, k) for p in patterns)]
        extras = extras[: MAX_ERRORS_PER_DOCUMENT + 1]
        return [
            at(pos.key(path + (k,)), f"unknown key {k!r}{_suggest(k, allowed)} (allowed: {', '.join(allowed)})")
            for k in extras  # each at the unknown key itself
        ]
    if kw == "required" and isinstance(instance, dict):
        return [at(pos.value(path), f"missing required key {k!r}") for k in arg if k not in instance]
    if kw == "oneOf":
        names = [branch["required"][0] for branch in arg if len(branch.get("required", ())) == 1]
        if not isinstance(instance, dict) or len(names) != len(arg):
            return [at(pos.value(path), error.message)]
        present = sorted((k for k in names if k in instance), key=lambda k: pos.key(path + (k,)))
        message = f"exactly one of {', '.join(names)} is required"
        if len(present) > 1:
            return [at(pos.key(path + (present[-1],)), f"{message}, found {' and '.join(present)}")]
        return [at(pos.value(path), message)]
    if kw == "dependentRequired" and isinstance(instance, dict):
        return [
            at(pos.key(path + (k,)), f"{k} needs {' and '.join(deps)} ({_NEEDS[k]})" if k in _NEEDS
               else f"{k} is only allowed with {' and '.join(deps)}")
            for k, deps in arg.items()
            if k in instance and any(d not in instance for d in deps)
        ]
    if kw == "uniqueItems" and isinstance(instance, list):
        problems, first = [], {}
        for i, item in enumerate(instance):
            key = _json_key(item)
            if key in first and len(problems) <= MAX_ERRORS_PER_DOCUMENT:
                line = pos.value(path + (first[key],)).line
                shown = _got(item).removeprefix("the string ")
                problems.append(at(pos.value(path + (i,)), f"{shown} is listed twice (first at line {line})"))
            else:
                first[key] = i
        return problems
    location = pos.value(path)
    if kw == "type":
        types = [arg] if isinstance(arg, str) else list(arg)
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        if "enum" in error.schema:
            expected = "one of " + ", ".join(repr(o) for o in error.schema["enum"])
        hint = ""
        if types == ["string"] and isinstance(instance, (bool, int, float)):
            hint = "; put the value in quotes to make it a string"
        return [at(location, f"expected {expected}, got {_got(instance)}{hint}")]
    if kw == "enum":
        options = ", ".join(repr(o) for o in arg)
        suggestion = _suggest(instance, arg) if isinstance(instance, str) else ""
        return [at(location, f"{instance!r} is not one of {options}{suggestion}")]
    if kw == "const":
        return [at(location, f"must be {arg!r}, got {_got(instance)}")]
    if kw == "minLength":
        if arg == 1:
            return [at(location, "must not be empty")]
        return [at(location, f"is too short ({len(instance)} characters; at least {arg})")]
    if kw == "maxLength":
        return [at(location, f"is too long ({len(instance)} characters; at most {arg})")]
    if kw == "minimum":
        return [at(location, f"must be at least {arg}, got {instance}")]
    if kw == "pattern":
        hint = _PATTERN_HINTS.get(arg, f"it must match {arg}")
        return [at(location, f"{instance!r} is not valid: {hint}")]
    return [at(location, error.message)]


# ---- the fast checker -------------------------------------------------------------------------

@functools.cache
def _fast_check():
    """A predicate equal to "valid against the schema", compiled to Python by fastjsonschema.

    fastjsonschema knows Drafts 4, 6 and 7; the schema's two Draft 2020-12 keywords are rewritten
    to their Draft 7 spellings (`dependentRequired` -> `dependencies`; `const: x` -> `enum: [x]`).
    Without detailed exceptions a rejection costs no error message: jsonschema explains it.
    None (everything goes to jsonschema) if the schema ever uses something it cannot compile.
    """
    import fastjsonschema

    schema = _as_draft7(load_schema())
    # A version's `oneOf` of single `required` keys means "exactly one selector". fastjsonschema
    # tries each branch and raises for each miss (two exceptions per version, ~40% of the check
    # on big trees), so the fast path counts the keys instead; the schema file stays the authority.
    selectors = _exactly_one_of(schema.get("$defs", {}).get("version", {}))
    if selectors:
        del schema["$defs"]["version"]["oneOf"]
    try:
        compiled = fastjsonschema.compile(schema, use_default=False, detailed_exceptions=False)
    except fastjsonschema.JsonSchemaDefinitionException:
        return None
    invalid = fastjsonschema.JsonSchemaValueException

    def check(data) -> bool:
        try:
            compiled(data)
        except invalid:
            return False
        if selectors:  # compiled() passed: `versions`, if present, is a list of mappings
            for item in data.get("versions", ()):
                if sum(key in item for key in selectors) != 1:
                    return False
        return True

    return check


def _exactly_one_of(node: dict) -> tuple[str, ...] | None:
    """The keys of a `oneOf` whose every branch only requires one key, else None."""
    branches = node.get("oneOf")
    if not isinstance(branches, list) or not branches:
        return None
    keys = []
    for branch in branches:
        rest = {k: v for k, v in branch.items() if k not in _ANNOTATIONS}
        if list(rest) != ["required"] or len(rest["required"]) != 1:
            return None
        keys.append(rest["required"][0])
    return tuple(keys)


_ANNOTATIONS = frozenset({"title", "description", "$comment", "examples"})


def _as_draft7(node):
    if isinstance(node, list):
        return [_as_draft7(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$schema":
            out[key] = "http://json-schema.org/draft-07/schema#"
        elif key == "dependentRequired":
            out["dependencies"] = value
        elif key == "const":  # same meaning; fastjsonschema's const fails to compile without detailed exceptions
            out["enum"] = [value]
        else:
            out[key] = _as_draft7(value)
    return out


def _unique(items: list) -> bool:
    """uniqueItems in one pass: items are equal exactly when their `_json_key`s are."""
    keys = set()
    for item in items:
        key = _json_key(item)
        if key in keys:
            return False
        keys.add(key)
    return True


def _json_key(value):
    """A hashable stand-in for a JSON value: JSON equality (true is not 1, 1 is 1.0, key order
    does not matter) becomes Python equality."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)  # 1 and 1.0 are equal, and hash alike
    if isinstance(value, dict):
        return ("o", frozenset((k, _json_key(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("a", tuple(_json_key(v) for v in value))
    return ("s", value)  # strings and null
