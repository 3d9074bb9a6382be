#!/usr/bin/env bash
# The command step of action.yml: run `mlflow-gitops $INPUT_COMMAND $INPUT_PATHS $INPUT_ARGS`,
# keep its stdout and stderr in files (step outputs `stdout`, `stderr`, `exit-code`), show both in
# the log, and write the job summary: the output, or the error when the command failed. The exit
# status is decided last, so a failing command never stops the script before the summary exists.
set -uo pipefail

command=${INPUT_COMMAND:?INPUT_COMMAND is empty}
cli=mlflow-gitops
if [ -n "${MLFLOW_GITOPS_BIN:-}" ]; then cli="$MLFLOW_GITOPS_BIN/mlflow-gitops"; fi

# Paths and arguments are shell words (quotes allowed), never evaluated: no expansion, no command.
python=python3
if [ -n "${MLFLOW_GITOPS_BIN:-}" ]; then python="$MLFLOW_GITOPS_BIN/python"; fi
words() {
  "$python" -c 'import shlex, sys; print("".join(w + "\0" for w in shlex.split(sys.argv[1])), end="")' "$1"
}
argv=("$command")
case "$command" in
  validate|plan|apply|drift)
    while IFS= read -r -d '' word; do argv+=("$word"); done < <(words "${INPUT_PATHS:-}") ;;
esac
while IFS= read -r -d '' word; do argv+=("$word"); done < <(words "${INPUT_ARGS:-}")

out_dir=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
stdout_file=$(mktemp "$out_dir/mlflow-gitops-$command-stdout.XXXXXX")
stderr_file=$(mktemp "$out_dir/mlflow-gitops-$command-stderr.XXXXXX")

# The summary names the command and the paths only: an argument could hold a credential.
title="mlflow-gitops $command${INPUT_PATHS:+ $(echo $INPUT_PATHS)}"
case "$command" in validate|plan|apply|drift) ;; *) title="mlflow-gitops $command" ;; esac

rc=0
"$cli" "${argv[@]}" > "$stdout_file" 2> "$stderr_file" || rc=$?
cat "$stdout_file"
cat "$stderr_file" >&2

allowed=false
for code in ${INPUT_ALLOWED_EXIT_CODES:-0}; do
  if [ "$code" = "$rc" ]; then allowed=true; fi
done

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "exit-code=$rc"
    echo "stdout=$stdout_file"
    echo "stderr=$stderr_file"
  } >> "$GITHUB_OUTPUT"
fi

fence() { echo '```'; head -c 60000 "$1"; [ -z "$(tail -c 1 "$1")" ] || echo; echo '```'; }
if [ "${INPUT_SUMMARY:-true}" = true ] && [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    if [ "$allowed" = true ]; then
      echo "### $title"
    else
      echo "### $title failed (exit $rc)"
    fi
    echo
    if [ -s "$stderr_file" ] && [ "$allowed" != true ]; then fence "$stderr_file"; echo; fi
    if [ -s "$stdout_file" ]; then
      case " ${argv[*]} " in
        *" --format markdown "*|*" -f markdown "*|*" --format=markdown "*) head -c 60000 "$stdout_file"; echo ;;
        *) fence "$stdout_file" ;;
      esac
    fi
    if [ -s "$stderr_file" ] && [ "$allowed" = true ]; then echo; echo "<details><summary>stderr</summary>"; echo; fence "$stderr_file"; echo "</details>"; fi
  } >> "$GITHUB_STEP_SUMMARY"
fi

if [ "$allowed" != true ]; then
  first=$(grep -m1 . "$stderr_file" || true)
  first=${first//'%'/%25}
  echo "::error title=mlflow-gitops $command failed (exit $rc)::${first:-see the log}"
  exit "$rc"
fi
exit 0
