# The web client's npm packages (libsodium), from the lockfile, without the test-only ones.
FROM node:20-slim AS web
WORKDIR /web
COPY messaging/web/package.json messaging/web/package-lock.json messaging/web/.npmrc ./
RUN npm ci --omit=dev

FROM python:3.11-slim

RUN pip install --no-cache-dir uv

WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PYTHONUNBUFFERED=1

# Dependencies first, so editing the source does not re-download them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

COPY messaging ./messaging
COPY --from=web /web/node_modules ./messaging/web/node_modules
COPY dossier_link ./dossier_link
RUN uv sync --locked --no-dev

EXPOSE 8080
VOLUME ["/data"]
CMD ["uv", "run", "--no-dev", "liaison", "serve"]
