# syntax=docker/dockerfile:1.7
# One image recipe for every Python service: docker build --build-arg SERVICE=identity .
# Built from uv.lock only (--frozen); the final stage holds the virtualenv and the service's
# code, runs as a non-root user, and has no compiler, uv or package manager cache.
# No HEALTHCHECK: Kubernetes probes /livez and /readyz.
# The base images are build arguments: public ones by default (Docker/BuildKit with a registry);
# `make images` (devstack.images) passes images it built from Debian packages and uv's wheel.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

# COPY --from cannot name an image through a build argument; a stage can.
FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
ARG SERVICE
RUN test -n "${SERVICE}" || (echo "build with --build-arg SERVICE=<name>" >&2; exit 1)
# Dependencies first (a layer that changes only with uv.lock), then the workspace sources.
COPY uv.lock pyproject.toml ./
COPY libs/servicekit/pyproject.toml libs/servicekit/pyproject.toml
COPY libs/contracts/pyproject.toml libs/contracts/pyproject.toml
COPY libs/devstack/pyproject.toml libs/devstack/pyproject.toml
COPY services/${SERVICE}/pyproject.toml services/${SERVICE}/pyproject.toml
# A build secret `ca_bundle` (optional) is the CA bundle uv trusts, for builds behind a
# TLS-inspecting proxy (`--secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt`): it is
# mounted for the step only and is in no layer.
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca_bundle \
    if [ -f /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi; \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package "${SERVICE}"
COPY libs/ libs/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca_bundle \
    if [ -f /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi; \
    uv sync --frozen --no-dev --no-editable --package "${SERVICE}"

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin flotilla
COPY --from=build --chown=root:root /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    SERVICE_NAME=${SERVICE} HTTP_HOST=0.0.0.0 HTTP_PORT=8000
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["/bin/sh", "-c", "exec python -m \"$SERVICE_NAME\" \"$@\"", "--"]
CMD ["serve"]
