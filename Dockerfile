# syntax=docker/dockerfile:1
# Eyeball's image: the wheel (code, templates, static files, migrations, demo data) in a
# slim Python, run as a non-root user. docker-compose.yml runs `eyeball db upgrade` once,
# then `eyeball serve` (EYEBALL_WORKERS processes); docs/deploy.md walks through it.

# --- build: the wheel and every dependency as wheels, so the image installs offline.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY templates ./templates
COPY static ./static
COPY migrations ./migrations
COPY demo/digits ./demo/digits
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- run: no compiler, no source tree, nothing but the installed package.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EYEBALL_HOST=0.0.0.0 \
    EYEBALL_PORT=8000 \
    EYEBALL_DATA_DIR=/data
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels eyeball
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin eyeball \
    && mkdir -p /data \
    && chown eyeball:eyeball /data
USER eyeball
WORKDIR /data
VOLUME /data
EXPOSE 8000
# Liveness only: /healthz does not touch the database (see /readyz for that).
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["eyeball", "serve"]
