"""Semantic rules beyond the JSON Schema: MLflow's naming rules and references between entries.

The rules mirror mlflow/utils/validation.py (without importing mlflow, so `validate` stays
offline and fast) so that a manifest that passes here is not rejected by the registry at apply
time. They read the data defensively: they also run on documents that failed the schema, so one
`validate` run reports as much as possible. Lengths, types and `artifact_path` without `run_id`
are the schema's job and are not repeated here.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Iterable

from reconciler.constants import DEFAULT_ARTIFACT_PATH, OWN_PREFIX, SYSTEM_PREFIX
from reconciler.errors import Location, Problem
from reconciler.manifest.yamlsrc import Document, label

ALIAS_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")
_SCHEMA_ALIAS = re.compile(r"^[A-Za-z0-9_-]{1,255}$")  # as jsonschema applies the schema's pattern
_VERSION_ALIAS = re.compile(r"[vV][0-9]+")  # MLflow resolves `v3` to version 3
_TAG_KEY_CHARS = re.compile(r"[/\w.\- :]*")  # MLflow's character class; \w includes non-ASCII letters
MAX_TAG_KEY_LENGTH = 250
RESERVED_TAG_PREFIXES = {
    SYSTEM_PREFIX: "reserved for MLflow system tags",
    OWN_PREFIX: "reserved for mlflow-gitops itself",
}
RESERVED_MODEL_PREFIX = OWN_PREFIX  # the `apply --lock` lease models
SELECTORS = ("version", "run_id", "source")
MAX_MODEL_NAME_LENGTH = 256  # MLflow's SQL stores: registered_models.name is VARCHAR(256)
MAX_SOURCE_LENGTH = 500  # model_versions.source is VARCHAR(500)
# Text that can reach a terminal or a PR comment must not carry control characters: an escape
# sequence in a description could hide or fake lines of the plan a reviewer reads.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # tab, LF, CR are fine in free text
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})  # controls, bidi/format marks, line separators


def control_problem(text: str, free_text: bool = False) -> str | None:
    """Names and identifiers may hold no control or invisible format characters; free text
    (descriptions, tag values) may hold tabs and line breaks but no other control characters."""
    if free_text:
        found = _TEXT_CONTROL.search(text)
        bad = found.group() if found else None
    else:
        bad = next((c for c in text if unicodedata.category(c) in _INVISIBLE_CATEGORIES), None)
    if bad is None:
        return None
    return f"contains the control character U+{ord(bad):04X}, which is not allowed here"


def _path_problem(name: str) -> str | None:
    # MLflow stores some names as file paths and refuses those that would normalise to another
    norm = posixpath.normpath(name)
    if name.startswith("/"):
        return "must not start with '/'"
    if norm != name or norm == "." or norm.startswith(".."):
        return f"would resolve to {norm!r} as a file path (no '.' or '..' segments, '//' or trailing '/')"
    return None


def model_name_problem(name: str) -> str | None:
    if not name.strip():
        return "model name must not be blank"
    if len(name) > MAX_MODEL_NAME_LENGTH:
        return f"model name is too long ({len(name)} characters; at most {MAX_MODEL_NAME_LENGTH})"
    control = control_problem(name)
    if control:
        return f"model name {control}"
    if name.startswith(RESERVED_MODEL_PREFIX):
        return f"model name {name!r} uses the prefix {RESERVED_MODEL_PREFIX!r}, reserved for mlflow-gitops's own models"
    if "/" in name or ":" in name:
        return f"model name {name!r} must not contain '/' or ':'"
    problem = _path_problem(name)
    return f"model name {name!r} {problem}" if problem else None


def alias_problem(alias: str) -> str | None:
    if not ALIAS_PATTERN.fullmatch(alias):
        return f"alias {alias!r} is not valid: an alias is 1 to 255 letters, digits, '_' or '-'"
    if alias.lower() == "latest":
        return f"alias {alias!r} is reserved by MLflow ('latest', in any case, means the newest version)"
    if _VERSION_ALIAS.fullmatch(alias):
        return f"alias {alias!r} is reserved by MLflow (v<digits> means version {int(alias[1:])})"
    return None


def tag_key_problem(key: str) -> str | None:
    if not key:
        return "tag key must not be empty"
    if len(key) > MAX_TAG_KEY_LENGTH:
        return f"tag key is too long ({len(key)} characters; at most {MAX_TAG_KEY_LENGTH})"
    if not _TAG_KEY_CHARS.fullmatch(key):
        bad = next(c for c in key if not _TAG_KEY_CHARS.fullmatch(c))
        allowed = "letters, digits, '_', '-', '.', '/', ':' and spaces"
        return f"tag key {key!r} contains {bad!r}: tag keys may only contain {allowed}"
    problem = _path_problem(key)
    if problem:
        return f"tag key {key!r} {problem}"
    for prefix, why in RESERVED_TAG_PREFIXES.items():
        if key.startswith(prefix):
            return f"tag key {key!r} uses the prefix {prefix!r}, {why}"
    return None


def version_selector(item: dict) -> tuple | None:
    """What identifies a declared version, for spotting two entries that select the same one."""
    present = [k for k in SELECTORS if k in item]
    if len(present) != 1:
        return None
    kind, value = present[0], item[present[0]]
    if kind == "version":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None
        try:
            return ("version", str(int(value)))
        except (ValueError, OverflowError):
            return None
    if not isinstance(value, str):
        return None
    if kind == "run_id":
        artifact_path = item.get("artifact_path", DEFAULT_ARTIFACT_PATH)
        return ("run_id", value, artifact_path) if isinstance(artifact_path, str) else None
    return ("source", value)


def _describe_selector(selector: tuple) -> str:
    if selector[0] == "version":
        return f"version {selector[1]}"
    if selector[0] == "run_id":
        return f"run_id {selector[1]} with artifact_path {selector[2]!r}"
    return f"source {selector[1]}"


def check_document(doc: Document) -> list[Problem]:
    data, pos = doc.data, doc.positions
    problems: list[Problem] = []
    name = data.get("name")
    if isinstance(name, str) and name:
        message = model_name_problem(name)
        if message:
            problems.append(Problem(pos.value(("name",)), message))
    problems += _tag_problems(data.get("tags"), ("tags",), doc)
    problems += _text_problems(data, (), doc)
    versions = data.get("versions")
    problems += _stage_alias_problems(data, versions if isinstance(versions, list) else [], doc)
    problems += _gate_problems(data, doc)
    if not isinstance(versions, list):
        return problems
    seen_selectors: dict[tuple, int] = {}
    alias_owner: dict[str, int] = {}
    for i, item in enumerate(versions):
        if not isinstance(item, dict):
            continue
        here = ("versions", i)
        selector = version_selector(item)
        if selector is not None:
            if selector in seen_selectors:
                first = pos.value(("versions", seen_selectors[selector]))
                problems.append(
                    Problem(
                        pos.value(here),
                        f"versions[{i}] selects the same version as versions[{seen_selectors[selector]}] "
                        f"(line {first.line}): {_describe_selector(selector)}",
                    )
                )
            else:
                seen_selectors[selector] = i
        problems += _tag_problems(item.get("tags"), here + ("tags",), doc)
        problems += _text_problems(item, here, doc)
        aliases = item.get("aliases")
        if not isinstance(aliases, list):
            continue
        for j, alias in enumerate(aliases):
            if not isinstance(alias, str):
                continue
            message = alias_problem(alias)
            if message and not ALIAS_PATTERN.fullmatch(alias) and not _SCHEMA_ALIAS.search(alias):
                message = None  # the schema reported it; its `$` only lets a trailing newline through
            owner = alias_owner.setdefault(alias, i)
            if owner != i:
                first = pos.value(("versions", owner))
                message = (
                    f"alias {alias!r} is already carried by versions[{owner}] (line {first.line}); "
                    "an alias can point at one version only"
                )
            if message:
                problems.append(Problem(pos.value(here + ("aliases", j)), f"{label(here + ('aliases',))}: {message}"))
    return problems


def _stage_alias_problems(data: dict, versions: list, doc: Document) -> list[Problem]:
    """policy.stage_aliases: valid, distinct aliases that no version declares as well (the policy
    moves them; a version's `aliases` pinning one too would fight it on every apply)."""
    policy = data.get("policy")
    mapping = policy.get("stage_aliases") if isinstance(policy, dict) else None
    if not isinstance(mapping, dict):
        return []
    declared: dict[str, int] = {}
    for i, item in enumerate(versions):
        aliases = item.get("aliases") if isinstance(item, dict) else None
        for alias in aliases if isinstance(aliases, list) else ():
            if isinstance(alias, str):
                declared.setdefault(alias, i)
    problems = []
    first_stage: dict[str, str] = {}
    for stage, alias in mapping.items():
        if not isinstance(alias, str):
            continue
        where = ("policy", "stage_aliases", stage)
        message = alias_problem(alias) if ALIAS_PATTERN.fullmatch(alias) else None  # else: the schema's
        if message is None and alias in first_stage:
            message = f"alias {alias!r} is already kept on the {first_stage[alias]} version; one alias per stage"
        if message is None and alias in declared:
            line = doc.positions.value(("versions", declared[alias])).line
            message = (
                f"alias {alias!r} follows the {stage} version by this policy, so versions[{declared[alias]}] "
                f"(line {line}) must not declare it too"
            )
        first_stage.setdefault(alias, stage)
        if message:
            problems.append(Problem(doc.positions.value(where), f"{label(where)}: {message}"))
    return problems


def _gate_problems(data: dict, doc: Document) -> list[Problem]:
    """policy.gates beyond the schema: a metric gate checks something, bounds that can hold, an
    alias target MLflow would accept."""
    policy = data.get("policy")
    gates = policy.get("gates") if isinstance(policy, dict) else None
    problems = []
    for i, gate in enumerate(gates if isinstance(gates, list) else ()):
        if not isinstance(gate, dict):
            continue
        here = ("policy", "gates", i)
        message, where = None, here
        bounds = {k: gate.get(k) for k in ("min", "max") if isinstance(gate.get(k), (int, float))}
        target = gate.get("target")
        if "metric" in gate and "tag" not in gate and not any(k in gate for k in ("min", "max", "vs_current")):
            message = f"metric gate on {gate['metric']!r} needs at least one of min, max, vs_current"
        elif len(bounds) == 2 and bounds["min"] > bounds["max"]:
            message, where = f"min {bounds['min']} is above max {bounds['max']}: no value can pass", here + ("min",)
        elif isinstance(target, str) and target.startswith("@") and ALIAS_PATTERN.fullmatch(target[1:]):
            message = alias_problem(target[1:])
            where = here + ("target",)
        if message:
            problems.append(Problem(doc.positions.value(where), f"{label(where)}: {message}"))
    return problems


_IDENTIFIERS = ("run_id", "artifact_path", "source")


def _text_problems(data: dict, path: tuple, doc: Document) -> list[Problem]:
    """Control characters in free text and identifiers; an over-long source (names are checked above)."""
    found = []
    values = [(key, data.get(key), False) for key in _IDENTIFIERS]
    values.append(("description", data.get("description"), True))
    tags = data.get("tags")
    if isinstance(tags, dict):
        values += [(("tags", key), value, True) for key, value in tags.items()]
    for key, value, free_text in values:
        if not isinstance(value, str):
            continue
        where = path + (key if isinstance(key, tuple) else (key,))
        message = control_problem(value, free_text)
        if key == "source" and len(value) > MAX_SOURCE_LENGTH:
            message = f"is too long ({len(value)} characters; MLflow stores at most {MAX_SOURCE_LENGTH})"
        if message:
            found.append(Problem(doc.positions.value(where), f"{label(where)}: {message}"))
    return found


def _tag_problems(tags, path: tuple, doc: Document) -> list[Problem]:
    if not isinstance(tags, dict):
        return []
    problems = []
    for key in tags:
        message = tag_key_problem(key)
        if message:
            where = f"{label(path[:-1])}: " if len(path) > 1 else ""
            problems.append(Problem(doc.positions.key(path + (key,)), where + message))
    return problems


def check_unique_names(docs: Iterable[Document]) -> list[Problem]:
    """Each model may be declared once across the whole tree; reported at every later declaration."""
    first: dict[str, Location] = {}
    problems = []
    for doc in docs:
        name = doc.data.get("name")
        if not isinstance(name, str) or not name:
            continue
        location = doc.positions.value(("name",))
        if name in first:
            problems.append(Problem(location, f"model {name!r} is already declared at {first[name].short}"))
        else:
            first[name] = location
    return problems


def check_across(docs: list[Document]) -> list[Problem]:
    """The rules that need every document at once. `reconciler.manifest.load` runs `check_document` on
    each file as it reads it (files are read on two cores) and this once on all: a new rule goes in
    one of the two."""
    return check_unique_names(docs)
