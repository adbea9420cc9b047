# syntax=docker/dockerfile:1.7
# One image recipe for every Python service: docker build --build-arg SERVICE=identity .
# and for the load generator (devstack.load): --build-arg SERVICE=devstack
# --build-arg PACKAGE_DIR=libs/devstack --target load-generator.
# Built from uv.lock only (--frozen); the final stages hold the virtualenv and the code, run as a
# non-root user, and have no compiler, uv or package manager cache.
# No HEALTHCHECK: Kubernetes probes /livez and /readyz.
# The base images are build arguments: public ones by default (Docker/BuildKit with a registry);
# `make images` (devstack.images) passes images it built from Debian packages and uv's wheel, and
# the API docs pages' files from its tool cache (DOCS_ASSETS_IMAGE).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG NODE_IMAGE=node:22.21.1-bookworm
# The files /docs and /redoc load (Swagger UI's and ReDoc's, servicekit.api_docs): an image
# holding them at its root. By default the stage below, which fetches them with npm the way
# devstack's tool cache does (the same code, the same pinned versions).
ARG DOCS_ASSETS_IMAGE=docs-assets-from-npm

# COPY --from cannot name an image through a build argument; a stage can.
FROM ${UV_IMAGE} AS uv

FROM ${NODE_IMAGE} AS docs-assets-fetch
COPY libs/devstack/src/devstack/__init__.py /opt/toolchain/devstack/__init__.py
COPY libs/devstack/src/devstack/toolchain/ /opt/toolchain/devstack/toolchain/
ENV PYTHONPATH=/opt/toolchain FLOTILLA_CACHE=/opt/cache
RUN python3 -m devstack.toolchain ensure docs-assets \
 && mv "$(python3 -m devstack.toolchain path docs-assets)" /docs-assets

FROM scratch AS docs-assets-from-npm
COPY --from=docs-assets-fetch /docs-assets/ /

FROM ${DOCS_ASSETS_IMAGE} AS docs-assets

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
ARG SERVICE
# Where the package's pyproject.toml is: a service's folder, or libs/devstack for the load
# generator.
ARG PACKAGE_DIR=services/${SERVICE}
RUN test -n "${SERVICE}" || (echo "build with --build-arg SERVICE=<name>" >&2; exit 1)
# Dependencies first (a layer that changes only with uv.lock), then the workspace sources.
COPY uv.lock pyproject.toml ./
COPY libs/servicekit/pyproject.toml libs/servicekit/pyproject.toml
COPY libs/contracts/pyproject.toml libs/contracts/pyproject.toml
COPY libs/clients/pyproject.toml libs/clients/pyproject.toml
COPY libs/devstack/pyproject.toml libs/devstack/pyproject.toml
COPY ${PACKAGE_DIR}/pyproject.toml ${PACKAGE_DIR}/pyproject.toml
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

# What every final stage shares: the virtualenv, owned by root, run by a user without a shell.
FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin flotilla
COPY --from=build --chown=root:root /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001

# The load generator (python -m devstack.load; the umbrella chart's optional loadGenerator).
FROM runtime AS load-generator
USER 10001:10001
ENTRYPOINT ["python", "-m", "devstack.load"]
CMD ["--help"]

# A service (the default target: the last stage).
FROM runtime AS service
ARG SERVICE
COPY --from=docs-assets --chown=root:root / /app/docs-assets/
ENV SERVICE_NAME=${SERVICE} HTTP_HOST=0.0.0.0 HTTP_PORT=8000 DOCS_ASSETS_DIR=/app/docs-assets
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["/bin/sh", "-c", "exec python -m \"$SERVICE_NAME\" \"$@\"", "--"]
CMD ["serve"]
