# mlflow-gitops serve: the continuous reconciler (docs/serve.md).
#   docker build -t mlflow-gitops .
#   docker run -p 9465:9465 -v "$PWD/manifests:/manifests:ro" \
#     -e MLFLOW_TRACKING_URI=https://mlflow.internal -e MLFLOW_GITOPS_WEBHOOK_SECRET=... mlflow-gitops
# Any other command: docker run --entrypoint mlflow-gitops mlflow-gitops plan /manifests
FROM python:3.11-slim

# git: `serve --git-pull`, and the commit recorded in the audit trail
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir uv

WORKDIR /app
# the locked dependencies first (a layer that survives code changes), then the project
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-default-groups --no-install-project --compile-bytecode
COPY schemas ./schemas
COPY reconciler ./reconciler
RUN uv sync --locked --no-default-groups --no-editable --compile-bytecode

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    HOME=/tmp
USER 10001:10001
EXPOSE 9465
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:9465/healthz', timeout=4).status != 200)"
ENTRYPOINT ["mlflow-gitops", "serve"]
CMD ["--listen", "0.0.0.0:9465", "/manifests"]
