FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    EYEBALL_HOST=0.0.0.0 EYEBALL_PORT=8000 EYEBALL_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir .
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY demo ./demo
RUN useradd --system --home /data eyeball && mkdir -p /data && chown eyeball /data
USER eyeball
VOLUME /data
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["eyeball", "serve", "--workers", "4"]
