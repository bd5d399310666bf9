# One image for every Pupilpost service; the command picks the service:
#   docker run pupilpost run dispatch
# Configuration comes only from environment variables (see deploy/README.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the project (runtime dependencies only, no test extra) from
# pyproject.toml, then drop the sources: the installed package is what runs.
COPY pyproject.toml /tmp/src/pyproject.toml
COPY pupilpost /tmp/src/pupilpost
COPY schemas /tmp/src/schemas
COPY services /tmp/src/services
RUN pip install /tmp/src && rm -rf /tmp/src

# Unprivileged user; its only writable place is the data directory.
RUN groupadd --system --gid 10001 pupilpost \
    && useradd --system --uid 10001 --gid pupilpost --home-dir /var/lib/pupilpost \
       --shell /usr/sbin/nologin pupilpost \
    && mkdir -p /var/lib/pupilpost \
    && chown pupilpost:pupilpost /var/lib/pupilpost
ENV PUPILPOST_MODE=production \
    PUPILPOST_DATA_DIR=/var/lib/pupilpost
WORKDIR /var/lib/pupilpost
USER 10001:10001

# ingest, classifier, dispatch, audit, retention (each reads <SVC>_HTTP_PORT)
EXPOSE 8001 8002 8003 8004 8005

# Probe /healthz of whichever service this container runs: the service name is
# the word after "run" in PID 1's command line, its port <SVC>_HTTP_PORT (or
# that service's default port).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; from pupilpost.routes import PORT_OFFSETS; \
argv = open('/proc/1/cmdline', 'rb').read().decode().split(chr(0)); \
svc = argv[argv.index('run') + 1] if 'run' in argv[:-1] else 'ingest'; \
port = os.environ.get(svc.upper() + '_HTTP_PORT') or 8000 + PORT_OFFSETS.get(svc, 1); \
urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"

ENTRYPOINT ["pupilpost"]
CMD ["run", "ingest"]
