# The app (FastAPI + the three actors), and only the app: the dev stack (devstack/), the
# benchmarks and the tests stay out. In Kubernetes daprd runs beside it as the injected
# sidecar; `tilt up` builds this image (see Tiltfile, docs/kubernetes.md).
#
# Layers, from the least to the most often changed: the uv binary, the locked dependencies
# (rebuilt only when pyproject.toml or uv.lock change), then the source. The project is
# installed editable, so Tilt's live_update can sync src/ into /app/src without a rebuild.
#
# The base images are build args: elsewhere the public ones; where no registry answers,
# `make image` (tools/docker/image.sh) makes stand-ins locally (Debian bookworm's python3.11,
# uv from its PyPI wheel) and passes their names. No `# syntax=` line: it makes every build
# fetch the docker/dockerfile frontend from Docker Hub first, and the builder's built-in
# frontend (BuildKit 0.8 on, Docker 20.10 on) has all that is used here (RUN --mount).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_CACHE_DIR=/tmp/uv-cache \
    PATH=/app/.venv/bin:$PATH

COPY --from=uv /uv /usr/local/bin/uv

# A fixed non-root uid, so the Deployment can require runAsNonRoot with runAsUser 10001.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app \
    && mkdir /app \
    && chown app:app /app

WORKDIR /app
USER 10001:10001

# Dependencies only: this layer is reused until the lock changes. --no-default-groups keeps
# the dev and bench groups (pytest, matplotlib, ...) out of the image.
COPY --chown=app:app pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/tmp/uv-cache,uid=10001,gid=10001 \
    uv sync --frozen --no-default-groups --no-install-project

# The project itself (editable: /app/src is what runs).
COPY --chown=app:app src/agent_actors ./src/agent_actors
RUN --mount=type=cache,target=/tmp/uv-cache,uid=10001,gid=10001 \
    uv sync --frozen --no-default-groups

EXPOSE 8000

# Kubernetes uses the Deployment's probes; this serves `docker run` and compose.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]

# One process per sidecar (docs/architecture.md): the SDK caches actor state in-process, so never
# several workers. 0.0.0.0 so the kubelet's probes reach it; daprd calls it on localhost.
CMD ["uvicorn", "agent_actors.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--timeout-keep-alive", "120"]
