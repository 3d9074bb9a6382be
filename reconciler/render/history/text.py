"""History as text: per target, one line per period (oldest first), the audit stamp below it."""

from __future__ import annotations

from reconciler.history.timeline import History
from reconciler.render.history.phrases import heading, holders, short, stamps, version, window


class TextHistoryRenderer:
    name = "text"

    def render(self, h: History) -> str:
        lines = [heading(h)]
        if h.tracking_uri:
            lines.append(f"Registry: {h.tracking_uri}")
        lines.append("")
        if h.at is not None:
            for target in h.targets:
                lines.append(f"{target}: {holders(h, target)}")
                for e in h.shown(target):
                    lines.append(f"  since {e.since}, commit {short(e.start.sha)} by {e.start.author}: "
                                 f"{e.start.subject}")
                    if stamps(e):
                        lines.append(f"  {stamps(e)}")
        else:
            for target in h.targets:
                lines.append(target)
                rows = h.shown(target)
                width = max(len(version(e)) for e in rows)
                for e in rows:
                    until = e.until or "now"
                    lines.append(f"  {version(e):<{width}}  {e.since} → {until:<20}  {short(e.start.sha)}  "
                                 f"{e.start.author}: {e.start.subject}")
                    if stamps(e):
                        lines.append(f"  {'':<{width}}  {stamps(e)}")
                lines.append("")
        if not h.targets:
            lines.append("No stage or alias declared" + (" at that time." if h.at else "."))
        windows = h.windows()
        if windows:
            if lines[-1]:
                lines.append("")
            lines.append(f"Drift seen by serve ({h.events_file}):")
            lines.extend(f"  {window(w)}" for w in windows)
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + "\n"
