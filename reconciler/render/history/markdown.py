"""History as Markdown (for a pull request or wiki page): one table per target."""

from __future__ import annotations

from reconciler.history.timeline import History
from reconciler.render.history.phrases import heading, holders, short, stamps, version, window


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class MarkdownHistoryRenderer:
    name = "markdown"

    def render(self, h: History) -> str:
        lines = [f"### {cell(heading(h))}", ""]
        if h.at is not None:
            lines += ["| Target | Version | Since | Commit | Author | Subject | Applied |",
                      "|---|---|---|---|---|---|---|"]
            for target in h.targets:
                rows = h.shown(target)
                if not rows:
                    lines.append(f"| {cell(target)} | {holders(h, target)} | | | | | |")
                for e in rows:
                    lines.append(f"| {cell(target)} | {cell(version(e))} | {e.since} | `{short(e.start.sha)}` | "
                                 f"{cell(e.start.author)} | {cell(e.start.subject)} | {cell(stamps(e))} |")
            lines.append("")
        else:
            for target in h.targets:
                lines += [f"#### {cell(target)}", "", "| Version | From | To | Commit | Author | Subject | Applied |",
                          "|---|---|---|---|---|---|---|"]
                for e in h.shown(target):
                    lines.append(f"| {cell(version(e))} | {e.since} | {e.until or 'now'} | `{short(e.start.sha)}` | "
                                 f"{cell(e.start.author)} | {cell(e.start.subject)} | {cell(stamps(e))} |")
                lines.append("")
        if not h.targets:
            lines += ["No stage or alias declared" + (" at that time." if h.at else "."), ""]
        windows = h.windows()
        if windows:
            lines += ["#### Drift seen by serve", ""]
            lines += [f"- {cell(window(w))}" for w in windows]
            lines.append("")
        return "\n".join(lines)
