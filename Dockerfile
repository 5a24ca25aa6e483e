# One image for every logwarden process: shipper, alerter, logq, the server, and the demo traffic generator.
#   docker build -t logwarden .
#   docker run --rm -v /var/log/nginx:/var/log/nginx:ro -v ./logwarden.yaml:/etc/logwarden/logwarden.yaml:ro \
#     logwarden shipper run
# compose/docker-compose.yml builds it and runs the whole stack.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOGWARDEN_CONFIG=/etc/logwarden/logwarden.yaml \
    HEALTHCHECK_PORT=9100

# A fixed uid/gid, so host directories (and the group that may read /var/log) can be granted to it.
RUN groupadd --system --gid 10001 logwarden \
 && useradd --system --uid 10001 --gid logwarden --home-dir /var/lib/logwarden --no-create-home \
      --shell /usr/sbin/nologin logwarden \
 && install -d -o logwarden -g logwarden -m 0750 /var/lib/logwarden /var/log/demo \
 && install -d -m 0755 /etc/logwarden

WORKDIR /opt/logwarden
# Dependencies and code first, examples last: editing a rule does not reinstall the wheels.
# (Every dependency, jq included, ships manylinux wheels, so no compiler is needed.)
COPY pyproject.toml README.md ./
COPY logstore ./logstore
COPY shipper ./shipper
COPY alerter ./alerter
COPY logq ./logq
COPY logwarden ./logwarden
COPY server ./server
RUN pip install . && rm -rf build *.egg-info
COPY examples ./examples
COPY rules ./rules

USER logwarden:logwarden
WORKDIR /var/lib/logwarden
EXPOSE 9100

# The check asks /readyz: 200 when the process can do its work (store reachable, state writable), 503
# with the reason when not. Compose's `depends_on: service_healthy` waits on it; Docker itself never
# restarts a container for it. /healthz is the liveness probe (the process loop turns): point an
# orchestrator's restart probe there (Kubernetes: livenessProbe /healthz, readinessProbe /readyz).
# The port is the process's metrics port (shipper.metrics.port / alerter.metrics.port); set
# HEALTHCHECK_PORT to match it. Python, not curl: the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('HEALTHCHECK_PORT', '9100'), timeout=4)"]

CMD ["shipper", "run"]
