"""Export: a live snapshot -> one manifest document per model. Pure: no I/O, no MLflow.

What is exported, and why (docs/export.md says the same for users):

- Each model's non-empty description and its user tags (never `mlflow.*` system tags, nor our
  own `mlflow-gitops.*` audit tags, which the snapshot keeps apart).
- Each version that carries something: a stage other than None, an alias, a non-empty
  description or a tag. Bare versions are left out: undeclared versions are left alone, so the
  plan stays empty without them and the manifest stays short. Within a version, a stage of None
  and an empty description are left out for the same reason (absent = not managed).
- No `policy:` block: the defaults manage only what is written, which is what makes `plan` on
  an export empty whatever else the registry holds.
- Values the manifest rules refuse (over-long text, control characters, tag keys or aliases
  MLflow accepts but the rules do not, model names the rules refuse) and values that look like a
  credential (every output of the tool masks those, so writing them would write `***`) are left
  out, unmanaged, with a comment in the file and a warning; a model whose name is refused is
  skipped. So every exported file passes `validate` and plans to nothing.

Each document is read back with the manifest loader, schema and rules before it is returned, so
a writer bug can never produce a file that means something other than the registry's state.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from reconciler.constants import DEFAULT_ARTIFACT_PATH
from reconciler.export.yamlwriter import Comment, Flow, Map, Seq, data, render
from reconciler.manifest import rules
from reconciler.manifest.schema import validate
from reconciler.manifest.yamlsrc import parse_text
from reconciler.redact import redact
from reconciler.registry.snapshot import LiveModel, LiveVersion, Snapshot

API_VERSION = "mlflow-gitops/v1"
KIND = "RegisteredModel"
MAX_TEXT = 5000  # descriptions and tag values: the schema's maxLength
BY = ("version", "source", "run_id")
SUFFIX = ".yaml"
MAX_STEM = 80  # file names stay far below every file system's 255-byte limit, hash included
_HASH_CHARS = 8
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
# names Windows refuses as files, whatever the extension
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"] + [f"{d}{i}" for d in ("COM", "LPT") for i in range(10)]
)


@dataclass(frozen=True)
class Exported:
    name: str
    body: str  # the YAML document, without the schema comment line
    warnings: tuple[str, ...] = ()
    by_number: int = 0  # versions that fell back to `version:` under --by source / run_id


@dataclass
class Export:
    documents: list[Exported] = field(default_factory=list)  # in model name order
    skipped: list[str] = field(default_factory=list)  # warnings for models not exported

    @property
    def warnings(self) -> list[str]:
        return [w for d in self.documents for w in d.warnings] + self.skipped


def schema_comment(schema_ref: str) -> str:
    return f"# yaml-language-server: $schema={schema_ref}\n"


def export_snapshot(snapshot: Snapshot, by: str = "version") -> Export:
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    result = Export()
    for name in sorted(snapshot.models):
        problem = name_problem(name)
        if problem:
            result.skipped.append(f"model {shown(name)} skipped: {problem}")
            continue
        result.documents.append(export_model(snapshot.models[name], by))
    return result


def name_problem(name: str) -> str | None:
    problem = rules.model_name_problem(name)
    if problem:
        return f"{_redacted(problem)}; manifests cannot declare it"
    if masked(f"name: {name}"):
        return "its name looks like a credential, which every output of mlflow-gitops masks"
    return None


def export_model(model: LiveModel, by: str = "version") -> Exported:
    builder = _ModelExport(model, by, check_masks=False)
    doc = builder.build()
    body = render(doc)
    if masked(body):
        # rare: find the values that look like credentials, one by one, and leave them out
        builder = _ModelExport(model, by, check_masks=True)
        doc = builder.build()
        body = render(doc)
        if masked(body):
            raise RuntimeError(f"the manifest exported for model {model.name!r} would be masked")
    if not _reads_back(body, doc):
        # every value is quoted in this form; the plainer one missed a case of the YAML syntax
        body = render(doc, quote_all=True)
        if not _reads_back(body, doc):
            raise RuntimeError(f"the manifest exported for model {model.name!r} does not read back as written")
    return Exported(model.name, body, tuple(builder.warnings), builder.by_number)


class _ModelExport:
    def __init__(self, model: LiveModel, by: str, check_masks: bool):
        self.model = model
        self.by = by
        self.check_masks = check_masks
        self.warnings: list[str] = []
        self.by_number = 0

    def left_out(self, where: str, why: str) -> Comment:
        self.warnings.append(f"model {shown(self.model.name)}: {where} left out (not managed): {why}")
        return Comment(f"{where} left out (not managed): {why}")

    def build(self) -> Map:
        m = self.model
        doc = Map([("apiVersion", API_VERSION), ("kind", KIND), ("name", m.name)])
        doc += self.text("description", m.description, "description")
        doc += self.tags(m.tags, "tag")
        versions = Seq()
        for number in sorted(m.versions, key=int):
            v = m.versions[number]
            aliases = m.aliases_of(number)
            if v.stage == "None" and not aliases and not v.description and not v.tags:
                continue
            versions += self.version(v, aliases)
        for alias, number in sorted(m.aliases.items()):
            if number not in m.versions:
                self.warnings.append(
                    f"model {shown(m.name)}: alias {shown(alias)} points at version {number}, which "
                    "the registry did not list; left out"
                )
        if versions:
            doc.append(("versions", versions))
        return doc

    def text(self, key: str, value: str, where: str) -> list:
        """A description entry: left out when empty (not managed), or with a comment when refused."""
        if not value:
            return []
        problem = text_problem(key, value, self.check_masks)
        return [self.left_out(where, problem)] if problem else [(key, value)]

    def tags(self, tags: dict[str, str], what: str) -> list:
        entries = Map()
        notes: list = []
        for key in sorted(tags):
            value = tags[key]
            problem = rules.tag_key_problem(key)
            if problem:
                notes.append(self.left_out(what, _redacted(problem)))  # the rule's message names the key
                continue
            if self.check_masks and (masked(key) or masked(render(Map([(key, "x")])))):
                notes.append(self.left_out(what, "its key looks like a credential, " + _MASKED))
                continue
            problem = text_problem(key, value, self.check_masks)
            if problem:
                notes.append(self.left_out(f"{what} {shown(key)}", problem))
            else:
                entries.append((key, value))
        # the comments stand where the tags are; `tags:` itself only when a tag is left to write
        return notes + ([("tags", entries)] if entries else [])

    def version(self, v: LiveVersion, aliases: list[str]) -> list:
        item = Map()
        notes: list = []
        selector, why = self.selector(v)
        if why:
            self.by_number += 1
            notes.append(Comment(f"version {v.version}: selected by number, {why}"))
        item += selector
        if v.stage != "None":
            item.append(("stage", v.stage))
        kept = []
        for alias in aliases:
            problem = rules.alias_problem(alias)
            if problem:
                item.append(self.left_out(f"version {v.version}'s alias", _redacted(problem)))
            else:
                kept.append(alias)
        if kept:
            item.append(("aliases", Flow(kept)))
        item += self.text("description", v.description, f"version {v.version}'s description")
        item += self.tags(v.tags, f"version {v.version}'s tag")
        return notes + [item]

    def selector(self, v: LiveVersion) -> tuple[list, str | None]:
        """The version's selector, and why it is `version:` when another was asked for."""
        by_number = [("version", int(v.version))]
        if self.by == "version":
            return by_number, None
        value = getattr(v, self.by)
        label = "source" if self.by == "source" else "run_id"
        if not value:
            return by_number, f"it has no {label}"
        others = sorted(
            (o.version for o in self.model.versions.values() if getattr(o, self.by) == value and o is not v), key=int
        )
        if others:
            return by_number, f"its {label} is also the {label} of version{'s' if len(others) > 1 else ''} {', '.join(others)}"
        if self.by == "source" and len(value) > rules.MAX_SOURCE_LENGTH:
            return by_number, f"its source is {len(value)} characters, over the {rules.MAX_SOURCE_LENGTH} a manifest allows"
        problem = rules.control_problem(value)
        if problem:
            return by_number, f"its {label} {problem}"
        if self.check_masks and masked(f"{label}: {value}"):
            return by_number, f"its {label} looks like it holds a credential, " + _MASKED
        if self.by == "source":
            return [("source", value)], None
        entries: list = [("run_id", value)]
        path = artifact_path(v)
        if path and path != DEFAULT_ARTIFACT_PATH and not rules.control_problem(path) \
                and not (self.check_masks and masked(f"artifact_path: {path}")):
            entries.append(("artifact_path", path))
        return entries, None


_MASKED = "which every output of mlflow-gitops masks"


def text_problem(key: str, value: str, check_masks: bool = True) -> str | None:
    """Why a description or tag value cannot be written to a manifest, if it cannot."""
    if len(value) > MAX_TEXT:
        return f"{len(value)} characters, over the {MAX_TEXT} a manifest allows"
    problem = rules.control_problem(value, free_text=True)
    if problem:
        return problem
    if check_masks and (masked(f"{key}: {value}") or masked(render(Map([(key, value)])))):
        return "it looks like a credential, " + _MASKED
    return None


def artifact_path(v: LiveVersion) -> str | None:
    """The model's path inside its run, when the source says it (`runs:/<run>/<path>`, or an
    artifact URI `.../<run>/artifacts/<path>`); used only if the version must be registered again."""
    source, run = v.source or "", v.run_id
    if not run:
        return None
    for marker in (f"runs:/{run}/", f"/{run}/artifacts/"):
        at = source.find(marker)
        if at != -1 and (marker.startswith("runs:") and at == 0 or not marker.startswith("runs:")):
            path = source[at + len(marker):].strip("/")
            return path or None
    return None


def masked(text: str) -> bool:
    """Would every output of the tool mask part of this text (it looks like a credential)?"""
    return redact(text) != text


def _redacted(text: str) -> str:
    return redact(text)


def shown(text: str, limit: int = 60) -> str:
    """A value as a one-line, escaped, masked, bounded quote, safe inside a comment or message."""
    if len(text) > limit:
        quote = repr(text[:limit])
        return redact(quote[:-1]) + f"...{quote[-1]} ({len(text)} characters)"
    return redact(repr(text))


def _reads_back(body: str, doc: Map) -> bool:
    documents, problems = parse_text(body, "<export>")
    if problems or len(documents) != 1:
        return False
    found = documents[0]
    if validate(found) or rules.check_document(found):
        return False
    return found.data == data(doc)


# ---- file names -----------------------------------------------------------------------------------


def _digest(name: str, chars: int = _HASH_CHARS) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:chars]


def file_stem(name: str) -> tuple[str, bool]:
    """A stem safe on every OS, and whether it had to differ from the name."""
    stem = _UNSAFE_FILE_CHARS.sub("_", name).lstrip(".")[:MAX_STEM] or "model"
    if stem.split(".")[0].upper() in _WINDOWS_DEVICES:
        stem = "_" + stem
    return stem, stem != name


def file_names(names: list[str]) -> dict[str, str]:
    """One file name per model name: the name itself when it is safe on every file system, else a
    safe form plus a short hash of the name; a hash is also added to names that would share a
    file on a case-insensitive file system (Model / model). Deterministic for a set of names."""
    stems: dict[str, str] = {}
    for name in names:
        stem, changed = file_stem(name)
        stems[name] = f"{stem}-{_digest(name)}" if changed else stem
    for chars in (_HASH_CHARS, 16, 64):
        groups: dict[str, list[str]] = {}
        for name in names:
            groups.setdefault(stems[name].lower(), []).append(name)
        clashes = [group for group in groups.values() if len(group) > 1]
        if not clashes:
            break
        for group in clashes:
            for name in group:
                stem, _ = file_stem(name)
                stems[name] = f"{stem}-{_digest(name, chars)}"
    return {name: stems[name] + SUFFIX for name in names}
