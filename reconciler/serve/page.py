"""The HTML status page: one row per managed model, the promotion history, then the recent events. Plain HTML and CSS
(no script): it refreshes itself every interval, and on a narrow screen each row becomes a card."""

from __future__ import annotations

from html import escape

from reconciler.redact import redact
from reconciler.serve.promotions import PERIODS
from reconciler.serve.status import ERROR, HEALING, OUT_OF_SYNC, SYNCED, ModelView, View, parse_applied

LABELS = {SYNCED: "in sync", OUT_OF_SYNC: "out of sync", HEALING: "healing", ERROR: "error"}

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header{background:#1b1f24;color:#fff;padding:12px 16px}
header h1{font-size:18px;margin:0}
header p{margin:4px 0 0;color:#c9d1d9;font-size:13px;word-break:break-all}
main{padding:12px 16px;max-width:1100px}
.summary span{display:inline-block;margin:0 8px 8px 0}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;vertical-align:top;padding:8px;border-bottom:1px solid #d0d7de}
th{background:#eaeef2;font-size:13px}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:13px;font-weight:600;white-space:nowrap}
.synced{background:#dafbe1;color:#116329}.out_of_sync{background:#fff8c5;color:#7d4e00}
.healing{background:#ddf4ff;color:#0550ae}.error{background:#ffebe9;color:#a40e26}
.health{font-weight:600}.bad{color:#a40e26}.good{color:#116329}
ul.drift{margin:0;padding-left:18px}
h2{font-size:16px;margin:20px 0 8px}h3{font-size:14px;margin:14px 0 6px}
.muted{color:#57606a;font-size:13px}
@media (max-width:700px){
 thead{display:none} table,tbody,tr,td{display:block;width:auto}
 tr{border-bottom:2px solid #d0d7de;padding:4px 0} td{border:0;padding:4px 8px}
 td[data-label]::before{content:attr(data-label) ": ";font-weight:600;color:#57606a;font-size:13px}
}
"""


def _drift_list(m: ModelView) -> str:
    if m.error and m.status == ERROR:
        return f'<span class="bad">{escape(m.error)}</span>'
    if not m.drift:
        return '<span class="muted">none</span>'
    items = []
    for d in m.drift:
        where = f"v{d['version']} " if d.get("version") else ""
        git = "absent" if d.get("git") is None else d.get("git")
        live = "absent" if d.get("live") is None else d.get("live")
        items.append(f"<li><code>{escape(where + d['field'])}</code>: git <code>{escape(str(git))}</code>, "
                     f"live <code>{escape(str(live))}</code></li>")
    return f'<ul class="drift">{"".join(items)}</ul>'


def _applied(m: ModelView) -> str:
    parts = parse_applied(m.last_applied)
    if not parts["at"]:
        return '<span class="muted">never</span>'
    commit = parts["commit"] or "no commit"
    by = f" by {escape(parts['by'])}" if parts["by"] else ""
    return f"<code>{escape(commit[:12])}</code>{by}<br><span class=\"muted\">{escape(parts['at'])}</span>"


def _row(m: ModelView) -> str:
    heal = " (self-heal)" if m.self_heal else ""
    return (
        f'<tr id="model-{escape(m.model)}" data-status="{m.status}">'
        f'<td data-label="Model"><code>{escape(m.model)}</code><br><span class="muted">'
        f"{escape(m.manifest or '')}{heal}</span></td>"
        f'<td data-label="Status"><span class="badge {m.status}">{LABELS[m.status]}</span>'
        f'<br><span class="muted">since {escape(m.since or "?")}</span></td>'
        f'<td data-label="Drift">{_drift_list(m)}</td>'
        f'<td data-label="Last applied">{_applied(m)}</td>'
        "</tr>"
    )


def _event(e: dict) -> str:
    model = f" <code>{escape(e['model'])}</code>" if e.get("model") else ""
    detail = ""
    if e.get("event") == "drift":
        detail = ", ".join(escape(d["field"] + (f" of v{d['version']}" if d.get("version") else ""))
                           for d in e.get("drift", []))
    elif e.get("event") == "heal":
        n = len(e.get("changes", []))
        detail = f"{n} change{'' if n == 1 else 's'} reverted"
    elif e.get("error"):
        detail = escape(e["error"])
    return (f"<li><span class=\"muted\">{escape(e.get('time') or '')}</span> <strong>{escape(e['event'])}</strong>"
            f"{model}{': ' + detail if detail else ''}</li>")


def _period(target: str, p: dict) -> str:
    version = f"v{p['version']}" if p.get("version") else (p.get("ref") or "?")
    applied = '<span class="muted">not recorded</span>'
    if p.get("applied_at"):
        by = f" by {escape(p['applied_by'])}" if p.get("applied_by") else ""
        applied = f"{escape(p['applied_at'])}{by}"
    return (f'<tr class="period"><td data-label="Target"><code>{escape(target)}</code></td>'
            f'<td data-label="Version"><code>{escape(version)}</code></td>'
            f'<td data-label="From">{escape(p.get("from") or "?")}</td>'
            f'<td data-label="To">{escape(p.get("to") or "now")}</td>'
            f'<td data-label="Commit"><code>{escape(p.get("commit") or "")}</code> {escape(p.get("author") or "")}'
            f'<br><span class="muted">{escape(p.get("subject") or "")}</span></td>'
            f'<td data-label="Applied">{applied}</td></tr>')


def _history(view: View) -> str:
    h = view.history
    if h.note:
        return f'<p class="muted history-note">No promotion history: {escape(h.note)}.</p>'
    if h.head is None:
        return '<p class="muted history-note">Read after the first cycle.</p>'
    parts = [f'<p class="muted">From {h.commits} commits of the manifests, at <code>{escape(h.head[:12])}</code>; '
             f'the last {PERIODS} periods per stage and alias, newest first.</p>']
    for model, targets in h.models.items():
        rows = "".join(_period(t, p) for t, periods in targets.items() for p in periods)
        if not rows:
            rows = '<tr><td colspan="6" class="muted">no stage or alias declared in any commit</td></tr>'
        parts.append(f'<h3><code>{escape(model)}</code></h3><table class="history" data-model="{escape(model)}">'
                     "<thead><tr><th>Target</th><th>Version</th><th>From</th><th>To</th><th>Commit</th>"
                     f"<th>Applied</th></tr></thead><tbody>{rows}</tbody></table>")
    return "".join(parts)


def render(view: View) -> str:
    counts = view.counts()
    cycle = view.last_cycle
    if cycle.ok is None:
        health = '<span class="health">waiting for the first cycle</span>'
    elif cycle.ok:
        health = '<span class="health good">healthy</span>'
    else:
        health = f'<span class="health bad">failing since {escape(view.failing_since or "?")}: ' \
                 f'{escape(cycle.error or "")}</span>'
    summary = "".join(f'<span class="badge {s}">{counts[s]} {LABELS[s]}</span>' for s in LABELS)
    rows = "".join(_row(m) for m in view.models) or '<tr><td colspan="4">No model declared yet.</td></tr>'
    events = "".join(_event(e) for e in view.events) or '<li class="muted">none yet</li>'
    refresh = max(5, int(view.interval))
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="{refresh}">
<title>mlflow-gitops: {counts[OUT_OF_SYNC] + counts[ERROR]} need attention</title>
<style>{CSS}</style></head>
<body><header><h1>mlflow-gitops serve</h1>
<p>{escape(view.tracking_uri)} &middot; every {view.interval:g} s &middot; self-heal {"on" if view.self_heal else
"per model"}</p></header>
<main>
<p>{health} &middot; cycle {cycle.number} at {escape(cycle.started or "-")} &middot; last success
{escape(view.last_success or "never")} &middot; {view.cycle_errors} failed cycles</p>
<p class="summary">{summary}</p>
<table><thead><tr><th>Model</th><th>Status</th><th>Drift (git vs live)</th><th>Last applied</th></tr></thead>
<tbody>{rows}</tbody></table>
<h2>Promotion history</h2>
{_history(view)}
<h2>Recent events</h2>
<ul class="events">{events}</ul>
<p class="muted">JSON: <a href="/api/status">/api/status</a> &middot; <a href="/metrics">/metrics</a> &middot;
<a href="/healthz">/healthz</a></p>
</main></body></html>
"""
    return redact(html)
