# syntax=docker/dockerfile:1.7
# One image recipe for every Python service: docker build --build-arg SERVICE=identity .
# Built from uv.lock only; the final stage has the virtualenv and nothing to build with.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
ARG SERVICE
RUN test -n "${SERVICE}" || (echo "build with --build-arg SERVICE=<name>" >&2; exit 1)
COPY . .
RUN uv sync --frozen --no-dev --no-editable --package "${SERVICE}"

FROM ${PYTHON_IMAGE}
ARG SERVICE
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin flotilla
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 SERVICE_NAME=${SERVICE} HTTP_HOST=0.0.0.0 HTTP_PORT=8000
USER 10001
EXPOSE 8000
ENTRYPOINT ["/bin/sh", "-c", "exec python -m \"$SERVICE_NAME\" \"$@\"", "--"]
CMD ["serve"]
