"""`history`: which version held each stage and alias over time, from the git history of the
manifests (gitlog, documents, timeline), joined with apply's audit stamps (stamps) and the events
that `serve --events` appends (events). Pure but for git, which gitlog runs as a subprocess."""
