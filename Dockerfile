# One image for all four services; the command picks the service.
# Build stage: resolve the pinned dependencies into a virtual environment.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_PYTHON_DOWNLOADS=never
WORKDIR /src
RUN python -m venv /opt/ikm && /opt/ikm/bin/pip install uv
COPY requirements.lock pyproject.toml README.md ./
# Only runtime dependencies: the lock without the dev extra's tools.
RUN grep -vE '^(pytest|pytest-asyncio|asgi-lifespan|hypothesis|import-linter|ruff|mypy)==' requirements.lock > runtime.lock \
 && /opt/ikm/bin/uv pip install --python /opt/ikm/bin/python --no-deps -r runtime.lock
COPY shared ./shared
COPY services ./services
COPY cli ./cli
RUN /opt/ikm/bin/uv pip install --python /opt/ikm/bin/python --no-deps . \
 && /opt/ikm/bin/pip uninstall -y uv

# Runtime stage: the environment and nothing else, as a non-root user.
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 ikm && useradd --system --uid 10001 --gid ikm --home /app ikm
COPY --from=build /opt/ikm /opt/ikm
ENV PATH=/opt/ikm/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    IKM_ENVIRONMENT=production IKM_DATA_DIR=/app/data
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# IKM_SERVICE picks the service: registry, programs, partnerships or reporting.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8000\")}/healthz', timeout=2)"
ENTRYPOINT ["ikm"]
CMD ["serve"]
