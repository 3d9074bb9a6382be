"""A saved plan file, read as untrusted input.

`apply PLANFILE` writes exactly what the file says, so the file gets the checks a manifest gets,
before anything is read from or written to the registry:
1. it is JSON, of bounded nesting (a RecursionError is a refusal, not a crash);
2. it matches the published JSON Schema `schemas/plan.v1.json` (shapes, types, lengths, which
   keys each action needs) -- checked with a validator compiled from that file by fastjsonschema
   (Python code generated once per process: ~50x faster than jsonschema on a 50,000-change plan);
3. it passes the manifest rules (reconciler.rules): model names (reserved prefix, '/', ':',
   control characters), tag keys (no `mlflow.` or `mlflow-gitops.` prefix), aliases, control
   characters in every value that reaches a terminal or the registry, and versions to be
   registered referred to only after the change that registers them.
Every problem is reported with where it is (`FILE: changes[3].key: ...`), values escaped.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from reconciler.errors import PlanFileError
from reconciler.manifest import rules
from reconciler.plan.gates import GateResult
from reconciler.plan.model import FORMAT_VERSION, Change, Plan
from reconciler.render.describe import printable

SCHEMA_FILE = "plan.v1.json"
_ID = "urn:mlflow-gitops:plan.v1"  # the derived validators' own ids: their `#/definitions/...` refs stay local
MAX_REPORTED = 20  # problems listed before "... and N more"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # reconciler/
_TAG_ACTIONS = ("set_model_tag", "delete_model_tag", "set_version_tag", "delete_version_tag")
_VERSIONED = ("transition_stage", "set_alias", "set_version_tag", "delete_version_tag", "update_version_description")
_FREE_TEXT_AFTER = ("set_model_tag", "set_version_tag", "update_model_description", "update_version_description")


def schema_path() -> Path:
    # the wheel ships the schema inside the package; a source checkout has it at the repo top
    for candidate in (_PACKAGE_DIR / "schemas" / SCHEMA_FILE, _PACKAGE_DIR.parent / "schemas" / SCHEMA_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{SCHEMA_FILE} not found next to {_PACKAGE_DIR}")


@functools.cache
def published_schema() -> dict:
    return json.loads(schema_path().read_text(encoding="utf-8"))


@functools.cache
def _validators():
    """Validators compiled from the published schema: one for the document around its changes, and
    one per action for a change -- the schema's `change` with the `then` of each of its `allOf`
    rules whose `if` (a condition on `action` alone) holds for that action. The same checks as the
    whole schema; dispatching on `action` here spares fastjsonschema raising and catching an
    exception for every rule that does not apply (~6x faster on big plans)."""
    import fastjsonschema

    schema = published_schema()
    definitions = schema["definitions"]
    change = definitions["change"]
    common = {k: v for k, v in change.items() if k != "allOf"}
    document = {**schema, "properties": {**schema["properties"], "changes": {"type": "array"}}}
    by_action = {}
    for action in common["properties"]["action"]["enum"]:
        rules = [r["then"] for r in change.get("allOf", ()) if _holds(r["if"], action)]
        by_action[action] = fastjsonschema.compile(
            {"$id": f"{_ID}:{action}", "definitions": definitions, "allOf": [common, *rules]})
    any_change = fastjsonschema.compile({"$id": f"{_ID}:change", "definitions": definitions, **common})
    return fastjsonschema.compile(document), any_change, by_action


def _holds(condition: dict, action: str) -> bool:
    wanted = condition["properties"]["action"]
    return action == wanted["const"] if "const" in wanted else action in wanted["enum"]


def is_plan_file(paths: list[str]) -> bool:
    """Whether `apply PATHS` names one saved plan (JSON) rather than manifests."""
    if len(paths) != 1:
        return False
    p = Path(paths[0])
    if not p.is_file():
        return False
    if p.suffix == ".json":
        return True
    if p.suffix in (".yaml", ".yml"):
        return False
    with p.open("rb") as f:
        return f.read(64).lstrip().startswith(b"{")


def read(path: str) -> Plan:
    """The plan file at `path`, checked as untrusted input before any registry is touched."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PlanFileError(f"{printable(path)}:1:1: cannot read plan file: {printable(str(e))}") from None
    return load(text, path)


def load(text: str, origin: str) -> Plan:
    """The plan in `text` (read from `origin`), or PlanFileError listing what is wrong with it."""
    where = printable(origin)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise PlanFileError(f"{where}:{e.lineno}:{e.colno}: not a plan file: {e.msg}") from None
    except RecursionError:
        raise PlanFileError(f"{where}:1:1: not a plan file: values nested too deeply") from None
    if not isinstance(doc, dict) or doc.get("format_version") != FORMAT_VERSION:
        raise PlanFileError(f"{where}:1:1: not a plan file of format_version {FORMAT_VERSION!r}")
    schema_problem(doc, where)
    problems = rule_problems(doc)
    if problems:
        shown = problems[:MAX_REPORTED]
        if len(problems) > MAX_REPORTED:
            shown.append(f"... and {len(problems) - MAX_REPORTED} more problems in this plan file")
        raise PlanFileError("\n".join(f"{where}: {p}" for p in shown) + "\nNothing was applied.")
    return Plan(
        changes=tuple(Change(**{k: v for k, v in c.items() if k in Change.__dataclass_fields__}) for c in doc["changes"]),
        tracking_uri=doc["tracking_uri"],
        registry_uri=doc.get("registry_uri"),
        prior_state=dict(doc.get("prior_state", {})),
        managed_by=dict(doc.get("managed_by", {})),
        gates=tuple(GateResult.from_json(g) for g in doc.get("gates", ())),
    )


def schema_problem(doc: dict, where: str) -> None:
    import fastjsonschema

    document, any_change, by_action = _validators()
    try:
        document(doc)
        for i, change in enumerate(doc["changes"]):
            action = change.get("action") if isinstance(change, dict) else None
            validate = by_action.get(action, any_change) if isinstance(action, str) else any_change
            validate(change, {}, f"data.changes[{i}]")
    except fastjsonschema.JsonSchemaValueException as e:
        said = e.message.replace("data", "plan", 1)  # fastjsonschema names the document `data`
        raise PlanFileError(f"{where}: {printable(said)} (schemas/{SCHEMA_FILE}); nothing was applied") from None
    except RecursionError:
        raise PlanFileError(f"{where}:1:1: not a plan file: values nested too deeply") from None


def rule_problems(doc: dict) -> list[str]:
    """The manifest rules, applied to what the plan would write. The schema has checked shapes."""
    problems: list[str] = []

    def check(at: str, message: str | None) -> None:
        if message:
            problems.append(f"{at}: {printable(message)}")

    # A big plan names the same few models and keys thousands of times: judge each once. Text
    # Python calls printable holds no control or format character; only the rest is looked at.
    model_name_problem = functools.lru_cache(maxsize=4096)(rules.model_name_problem)
    tag_key_problem = functools.lru_cache(maxsize=4096)(rules.tag_key_problem)

    def control(text: str, free_text: bool = False) -> str | None:
        return None if text.isprintable() else rules.control_problem(text, free_text)

    for key in ("tracking_uri", "registry_uri"):
        if isinstance(doc.get(key), str):
            check(key, control(doc[key]))
    for section in ("prior_state", "managed_by"):
        for name, value in doc.get(section, {}).items():
            check(f"{section}[{name!r}]", model_name_problem(name))
            check(f"{section}[{name!r}]", control(value))
    registered: set[tuple[str, str]] = set()
    for i, c in enumerate(doc["changes"]):
        at = f"changes[{i}]"
        action, model = c["action"], c["model"]
        check(f"{at}.model", model_name_problem(model))
        for field in ("source", "ref", "run_id", "version"):
            if isinstance(c.get(field), str):
                check(f"{at}.{field}", control(c[field]))
        for field in ("before", "reason"):
            if isinstance(c.get(field), str):
                check(f"{at}.{field}", control(c[field], free_text=True))
        if action in _TAG_ACTIONS:
            check(f"{at}.key", tag_key_problem(c["key"]))
        if "alias" in c and action in ("set_alias", "delete_alias"):
            check(f"{at}.alias", rules.alias_problem(c["alias"]))
        after = c.get("after")
        if isinstance(after, str):
            check(f"{at}.after", control(after, free_text=action in _FREE_TEXT_AFTER))
        if action == "create_model" and after is not None and after != model:
            check(f"{at}.after", f"create_model must create the model it names ({model!r})")
        if action in _VERSIONED and c.get("version") is None and c.get("ref") is None:
            check(at, f"{action} needs the version it changes ('version', or 'ref' of a version it registers)")
        if action == "register_version":
            registered.add((model, c["ref"]))
        elif c.get("version") is None and c.get("ref") is not None and (model, c["ref"]) not in registered:
            check(f"{at}.ref", f"refers to {c['ref']!r}, which no earlier register_version of {model!r} registers")
    return problems
