# syntax=docker/dockerfile:1
# One image for all four services; the command picks the service and what to do:
#   ikm serve registry | ikm migrate registry | ikm topics | ikm status …
# In a container every service listens on port 8000 (set <SERVICE>_HOST=0.0.0.0 and
# <SERVICE>_PORT=8000, as docker-compose.yml and deploy/ do).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build stage: the runtime dependencies exactly as pinned in requirements.lock, then the project.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install uv==0.13.9
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY deploy/docker/runtime_requirements.py deploy/docker/build-constraints.txt ./
# The lock holds the dev tools too: keep what [project].dependencies needs, at the locked
# versions, and install exactly that (`sync` installs nothing else; --strict checks that
# every dependency is satisfied, so a stale lock fails the build instead of the container).
RUN python runtime_requirements.py requirements.lock pyproject.toml > runtime.txt \
 && python -m venv --without-pip /opt/ikm \
 && uv pip sync --python /opt/ikm/bin/python --strict runtime.txt
COPY shared ./shared
COPY services ./services
COPY cli ./cli
RUN uv pip install --python /opt/ikm/bin/python --no-deps --build-constraints build-constraints.txt . \
 && uv pip check --python /opt/ikm/bin/python

# Runtime stage: the virtual environment and nothing else, as a non-root user.
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ikm-platform" \
      org.opencontainers.image.description="IKM Platform: registry, programs, partnerships, reporting" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 ikm \
 && useradd --system --uid 10001 --gid ikm --home-dir /app --no-create-home --shell /usr/sbin/nologin ikm
COPY --from=build /opt/ikm /opt/ikm
# Production unless told otherwise; IKM_DATA_DIR (the embedded SQLite default) is not writable,
# so a container without <SERVICE>_DATABASE_URL fails instead of keeping data in a throwaway file.
ENV PATH=/opt/ikm/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    IKM_ENVIRONMENT=production IKM_DATA_DIR=/app/data
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Liveness (the process answers); orchestrators check readiness (/readyz) themselves.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["ikm"]
CMD ["--help"]
