"""The manifest editor behind `propose`: exact results on many shapes of manifest, and laws on
random ones (hypothesis): other documents and bytes unchanged, the intended data, idempotence."""

from __future__ import annotations

import difflib
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.propose.edit import EditError, Proposal, propose, scalar

RUN = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
HEAD = "apiVersion: mlflow-gitops/v1\nkind: RegisteredModel\nname: taxi\n"


def promote(text: str, **kw) -> str:
    p = Proposal(**{"model": "taxi", "run_id": RUN, "stage": "Production", "aliases": ("champion",),
                    "archive_previous": True, **kw})
    out = propose(text, p)
    assert propose(out, p) == out  # idempotent
    return out


def test_block_manifest_with_comments_is_edited_in_place():
    text = HEAD + """\
# the versions, newest last
versions:
  - version: 4      # October
    stage: Production   # serving
    aliases: [champion, blue]
  - version: 5
    stage: Staging
    aliases:
      - challenger
      - champion    # wrongly here too
policy: {prune_aliases: false}   # keep
"""
    assert promote(text) == HEAD + f"""\
# the versions, newest last
versions:
  - version: 4      # October
    stage: Archived   # serving
    aliases: [blue]
  - version: 5
    stage: Staging
    aliases:
      - challenger
  - run_id: {RUN}
    stage: Production
    aliases: [champion]
policy: {{prune_aliases: false}}   # keep
"""


def test_unindented_sequence_and_quoted_values_keep_their_style():
    text = HEAD + """versions:\n- source: 's3://b/1'\n  stage: "Production"\n  aliases:\n  - champion\n"""
    assert promote(text) == HEAD + (
        f"""versions:\n- source: 's3://b/1'\n  stage: "Archived"\n  aliases: []\n- run_id: {RUN}\n"""
        """  stage: Production\n  aliases: [champion]\n"""
    )


def test_flow_style_versions():
    text = HEAD + "versions: [{version: 1, stage: Production, aliases: [champion, blue]}]  # all here\n"
    assert promote(text) == HEAD + (
        "versions: [{version: 1, stage: Archived, aliases: [blue]}, "
        f"{{run_id: {RUN}, stage: Production, aliases: [champion]}}]  # all here\n"
    )
    assert promote(HEAD + "versions: []\n") == HEAD + f"versions: [{{run_id: {RUN}, stage: Production, aliases: [champion]}}]\n"


def test_existing_entry_gets_stage_and_alias_added():
    text = HEAD + f"versions:\n  - run_id: {RUN}\n    description: |\n      trained on November\n  - version: 2\n"
    assert promote(text) == HEAD + (
        f"versions:\n  - run_id: {RUN}\n    description: |\n      trained on November\n"
        "    stage: Production\n    aliases: [champion]\n  - version: 2\n"
    )
    flow = HEAD + f"versions:\n  - {{run_id: {RUN}, aliases: [blue]}}\n"
    assert promote(flow) == HEAD + f"versions:\n  - {{run_id: {RUN}, aliases: [blue, champion], stage: Production}}\n"


def test_entry_matched_through_the_live_version_of_the_run():
    text = HEAD + "versions:\n  - version: 3\n  - source: s3://b/7\n    stage: None\n"
    assert promote(text, live_versions=frozenset({"3"})) == HEAD + (
        "versions:\n  - version: 3\n    stage: Production\n    aliases: [champion]\n  - source: s3://b/7\n    stage: None\n"
    )
    assert promote(text, live_sources=frozenset({"s3://b/7"})) == HEAD + (
        "versions:\n  - version: 3\n  - source: s3://b/7\n    stage: Production\n    aliases: [champion]\n"
    )


def test_artifact_path_other_than_model_is_declared_and_distinguishes_entries():
    text = HEAD + f"versions:\n  - run_id: {RUN}\n"
    assert promote(text, artifact_path="clf", aliases=()) == text + (
        f"  - run_id: {RUN}\n    artifact_path: clf\n    stage: Production\n"
    )


def test_no_versions_key_adds_one():
    text = HEAD + "tags: {team: mlops}\n"
    assert promote(text, stage=None, archive_previous=False) == text + (
        f"versions:\n  - run_id: {RUN}\n    aliases: [champion]\n"
    )


def test_other_documents_crlf_bom_and_no_final_newline_are_kept():
    other = "# other\r\napiVersion: mlflow-gitops/v1\r\nkind: RegisteredModel\r\nname: other\r\n"
    mine = HEAD.replace("\n", "\r\n") + "versions:\r\n  - version: 1\r\n    stage: Production"
    text = "\ufeff" + other + "---\r\n" + mine + "\r\n...\r\n---\r\n" + other.rstrip("\r\n")
    out = promote(text)
    assert out == "\ufeff" + other + "---\r\n" + mine.replace("Production", "Archived") + (
        f"\r\n  - run_id: {RUN}\r\n    stage: Production\r\n    aliases: [champion]"
    ) + "\r\n...\r\n---\r\n" + other.rstrip("\r\n")
    last = HEAD + "versions:\n  - version: 1"  # no line break at the end of the file
    assert promote(last, archive_previous=False) == last + f"\n  - run_id: {RUN}\n    stage: Production\n    aliases: [champion]"


def test_block_scalar_last_in_an_entry_crlf():
    text = HEAD.replace("\n", "\r\n") + "versions:\r\n  - version: 1\r\n    description: |\r\n      x\r\n"
    out = promote(text, live_versions=frozenset({"1"}))
    assert out == HEAD.replace("\n", "\r\n") + (
        "versions:\r\n  - version: 1\r\n    description: |\r\n      x\r\n    stage: Production\r\n    aliases: [champion]\r\n"
    )
    assert yaml.safe_load(out)["versions"][0]["description"] == "x\n"


def test_missing_model_and_unreadable_yaml_are_errors():
    with pytest.raises(EditError, match="no document declares model 'taxi'"):
        propose("name: other\n", Proposal("taxi", RUN))
    with pytest.raises(EditError, match="cannot be read as YAML"):
        propose("name: [\n", Proposal("taxi", RUN))
    with pytest.raises(EditError, match=r"^m.yaml:6: `versions` of model 'taxi' is not a list"):
        propose("name: other\n---\n" + HEAD + "versions: {}\n", Proposal("taxi", RUN), "m.yaml")


@pytest.mark.parametrize("value, rendered", [
    ("0a1b2c", "0a1b2c"), ("1234", '"1234"'), ("1e10", '"1e10"'), ("yes", '"yes"'), ("null", '"null"'),
    ("0x1f", '"0x1f"'), ("Production", "Production"), ("a b", '"a b"'), ("2026-11-30", '"2026-11-30"'),
])
def test_scalars_stay_strings(value, rendered):
    assert scalar(value) == rendered
    assert yaml.safe_load(f"k: {rendered}")["k"] == value


# ---- laws on random manifests --------------------------------------------------------------------

ALIASES = ("champion", "challenger", "blue")
STAGES = ("None", "Staging", "Production", "Archived")


@st.composite
def manifests(draw):
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    comments = iter(f"# c{i}" for i in range(1000))

    def comment() -> str:
        # non-ASCII text too: offsets are in characters, whatever their UTF-8 length
        return f"  {next(comments)}{draw(st.sampled_from(['', ' é', ' 日本語', ' 😀']))}" if draw(st.booleans()) else ""

    def quoted(v: str) -> str:
        return draw(st.sampled_from([v, f"'{v}'", f'"{v}"']))

    entries = []
    used: set[str] = set()
    for i in range(draw(st.integers(0, 4))):
        selector = draw(st.sampled_from(["version", "source", "run_id", "target"]))
        entry = {"version": str(i + 1)} if selector == "version" else {"source": f"s3://b/{i}"} if (
            selector == "source") else {"run_id": RUN if selector == "target" and RUN not in used else f"run{i}x"}
        used.add(entry.get("run_id", ""))
        if draw(st.booleans()):
            entry["stage"] = draw(st.sampled_from(STAGES))
        if draw(st.booleans()):
            entry["aliases"] = [a for a in ALIASES if draw(st.booleans()) and not any(a in e.get("aliases", ()) for e in entries)]
        entries.append(entry)
    flow_versions = draw(st.booleans())
    dash = draw(st.sampled_from([0, 2, 4]))
    lines = ["# model taxi" + comment(), "apiVersion: mlflow-gitops/v1", "kind: RegisteredModel", "name: taxi" + comment()]
    if draw(st.booleans()):
        lines.append("tags: {team: mlops}" + comment())
    if entries or draw(st.booleans()):
        if flow_versions:
            def flow(e):
                parts = [f"{k}: {quoted(v)}" if k != "aliases" else f"aliases: [{', '.join(v)}]" for k, v in e.items()]
                return "{" + ", ".join(parts) + "}"
            lines.append("versions: [" + ", ".join(flow(e) for e in entries) + "]" + comment())
        else:
            lines.append("versions:" + comment())
            if not entries:
                lines[-1] = "versions: []"
            for e in entries:
                first = True
                for k, v in e.items():
                    prefix = " " * dash + ("- " if first else "  ")
                    first = False
                    if k == "aliases" and draw(st.booleans()) and v:
                        lines.append(prefix + "aliases:" + comment())
                        lines += [" " * (dash + 4) + f"- {a}" + comment() for a in v]
                    elif k == "aliases":
                        lines.append(prefix + f"aliases: [{', '.join(v)}]" + comment())
                    else:
                        lines.append(prefix + f"{k}: {quoted(v)}" + comment())
                if draw(st.booleans()):
                    lines.append("")
    if draw(st.booleans()):
        lines.append("policy:" + comment())
        lines.append("  prune_aliases: false" + comment())
    other = f"# another model{nl}apiVersion: mlflow-gitops/v1{nl}kind: RegisteredModel{nl}name: other{nl}"
    other += f"versions:{nl}- version: 1{nl}  stage: Production{nl}  aliases: [champion]{nl}"
    prefix = (other + "---" + nl) if draw(st.booleans()) else ""
    prefix = ("\ufeff" if draw(st.booleans()) else "") + prefix
    suffix = ("---" + nl + other) if draw(st.booleans()) else ""
    body = nl.join(lines) + nl
    proposal = Proposal(
        "taxi", RUN, stage=draw(st.sampled_from([None, *STAGES])),
        aliases=tuple(a for a in ALIASES if draw(st.booleans())), archive_previous=draw(st.booleans()),
    )
    return prefix, body, suffix, entries, proposal


def expected_versions(entries: list[dict], p: Proposal) -> list[dict]:
    """What the model's `versions` should hold after the edit: a reference written on plain data."""
    out = [dict(e) for e in entries]
    match = next((e for e in out if e.get("run_id") == p.run_id), None)
    if match is None:
        match = {"run_id": p.run_id}
        if p.stage is not None:
            match["stage"] = p.stage
        if p.aliases:
            match["aliases"] = list(p.aliases)
        out.append(match)
    else:
        if p.stage is not None:
            match["stage"] = p.stage
        if p.aliases:
            match["aliases"] = match.get("aliases", []) + [a for a in p.aliases if a not in match.get("aliases", [])]
    for e in out:
        if e is not match and "aliases" in e:
            e["aliases"] = [a for a in e["aliases"] if a not in p.aliases]
        if e is not match and p.archive_previous and p.stage not in (None, "None", "Archived") and e.get("stage") == p.stage:
            e["stage"] = "Archived"
    return out


CHANGED_LINE = re.compile(r"[-+]\s*(?:- )?(?:\{?(?:run_id|stage|aliases|version|source|artifact_path)\b|versions:|[a-z]+\s*(#.*)?$|\s*$)")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_laws(case):
    prefix, body, suffix, entries, p = case
    text = prefix + body + suffix
    out = propose(text, p)
    assert out.startswith(prefix) and out.endswith(suffix)  # other documents: byte for byte
    docs = list(yaml.load_all(out, Loader=yaml.BaseLoader))  # every scalar a string
    mine = next(d for d in docs if d["name"] == "taxi")
    assert mine.get("versions", []) == expected_versions(entries, p)
    before = [d for d in yaml.load_all(text, Loader=yaml.BaseLoader) if d["name"] == "taxi"][0]
    assert {k: v for k, v in mine.items() if k != "versions"} == {k: v for k, v in before.items() if k != "versions"}
    assert propose(out, p) == out  # idempotent
    gone = {c for a in p.aliases for c in re.findall(rf"- {a}  (# c\d+)", text)}  # on a removed alias's line
    for token in re.findall(r"# c\d+", text):  # every other comment is kept
        assert token in out or token in gone
    nl = "\r\n" if "\r\n" in text else "\n"
    assert out.count("\n") == out.count(nl)  # one kind of line break, the file's
    for line in difflib.ndiff(text.splitlines(), out.splitlines()):
        if line[:1] in "+-":  # only the lines that declare what the proposal changes
            assert CHANGED_LINE.match(line), (line, text, out)
