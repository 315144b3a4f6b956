# The production image: gunicorn for web, the same image runs the Celery worker and beat.
# Build: docker build -t health-fitness-analytics .   Run the whole shape: docker compose up

# --- build: install the pinned production requirements into a virtual environment ---------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements/ /tmp/requirements/
RUN pip install -r /tmp/requirements/prod.txt
# The C modules of large imports (setup.py) are compiled here: the runtime image gets the modules,
# not the compiler.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY setup.py /src/setup.py
COPY imports/parsers/_apple_health.c /src/imports/parsers/_apple_health.c
COPY healthdata/_rows.c /src/healthdata/_rows.c
RUN cd /src && python setup.py --quiet build_ext --inplace \
    && ls imports/parsers/_apple_health*.so healthdata/_rows*.so

# --- runtime: the code, the venv and nothing else, as an unprivileged user ------------------------
FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_ENV=production \
    DATA_DIR=/data \
    STATIC_ROOT=/app/staticfiles
RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . .
COPY --from=build /src/imports/parsers/ /app/imports/parsers/
COPY --from=build /src/healthdata/_rows*.so /app/healthdata/
# Static files are collected (and fingerprinted) at build time. Settings refuse to load in production
# without their three required values, so collectstatic gets throwaway ones that never reach runtime.
RUN SECRET_KEY=collectstatic-only-not-used-at-runtime-0123456789abcdefghij \
    DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 \
    ALLOWED_HOSTS=build \
    DATA_DIR=/tmp/build \
    python manage.py collectstatic --no-input -v 0 \
    && rm -rf /tmp/build
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8000/health/live', timeout=4)"]
# Workers default to WEB_CONCURRENCY (gunicorn reads it); request lines come from the app's JSON log.
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm", \
     "--timeout", "60", "--graceful-timeout", "30", "--max-requests", "2000", "--max-requests-jitter", "200"]
