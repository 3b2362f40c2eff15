# Liaison server image. npm fetches the web client's locked packages; uv builds the virtual
# environment from the lock file; the runtime stage gets that environment only (no uv, no npm,
# no source tree) and runs as an unprivileged user, with its data (server keys, operator token,
# embedded Redis AOF) in /data.
#
#   docker build -t liaison .
#   docker run -p 8080:8080 -v liaison-data:/data liaison            # embedded Redis in /data
#   docker run -e LIAISON_REDIS_URL=redis://:PASSWORD@redis:6379/0 …  # an external Redis

ARG PYTHON_IMAGE=python:3.11.9-slim-bookworm

# The web client's npm packages (libsodium), from the lockfile, without the test-only ones.
FROM node:20.17.0-bookworm-slim AS web
WORKDIR /web
COPY messaging/web/package.json messaging/web/package-lock.json messaging/web/.npmrc ./
RUN npm ci --omit=dev

FROM ${PYTHON_IMAGE} AS build

# Pinned: the lock file format and resolution must not change under a rebuild.
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# Dependencies first, so that editing the source does not download them again.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

COPY messaging ./messaging
COPY dossier_link ./dossier_link
# --no-editable: the project goes into the environment as a package, so the runtime stage needs
# the environment alone.
RUN uv sync --locked --no-dev --no-editable


FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 liaison \
    && useradd --system --uid 10001 --gid liaison --no-create-home --home-dir /data liaison \
    && mkdir /data \
    && chown liaison:liaison /data

COPY --from=build /app/.venv /app/.venv
# Beside the installed package, where the server looks for them (messaging.web).
COPY --from=web /web/node_modules /app/.venv/lib/python3.11/site-packages/messaging/web/node_modules

# The data directory is set in the image, so that a plain `docker run` keeps the server keys in
# the declared volume rather than in the container's writable layer.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LIAISON_DATA_DIR=/data \
    LIAISON_HOST=0.0.0.0 \
    LIAISON_PORT=8080 \
    LIAISON_LOG_FORMAT=json

USER liaison
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# Ready means Redis answers, not merely that the process is up.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('LIAISON_PORT', '8080'), timeout=4)"]

ENTRYPOINT ["liaison"]
CMD ["serve"]
