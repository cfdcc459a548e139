# syntax=docker/dockerfile:1
# The NetID issuer service (docs/issuer.md, "Container"). Built from the repository root, because the image
# installs the `netid` library and `issuer_service` from the one pyproject.toml there:
#
#   docker build -t netid-issuer .
#   podman build --format docker -t netid-issuer .          (--format docker keeps the HEALTHCHECK)
#
# Behind a TLS-inspecting proxy, give pip the proxy's CA bundle as the build secret `pip_ca`
# (`--secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt`): it is mounted for that one RUN, read-only,
# and never stored in a layer.
#
# PYTHON_IMAGE is any Debian-based image with python3 (>= 3.11), its venv module and useradd: the official
# python:3.X-slim images, or a base made locally where no registry is reachable (scripts/make-base-image.sh).
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY netid ./netid
COPY issuer_service ./issuer_service
# PIP_CERT is pip's --cert, as a variable so that the pip that installs the build backend (a subprocess)
# trusts the bundle too. pip itself is then removed: the running service installs nothing.
RUN --mount=type=secret,id=pip_ca \
    set -eu; \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi; \
    python3 -m venv /opt/netid; \
    /opt/netid/bin/pip install --no-cache-dir ".[issuer,postgres,hsm]"; \
    /opt/netid/bin/netid-issuer --help >/dev/null; \
    /opt/netid/bin/python -m pip uninstall --yes --quiet pip setuptools

FROM ${PYTHON_IMAGE}
ARG NETID_UID=10001
RUN useradd --system --uid "${NETID_UID}" --user-group --home-dir /var/lib/netid --create-home \
        --shell /usr/sbin/nologin netid
COPY --from=build /opt/netid /opt/netid
# Settings are NETID_ISSUER_* variables (docs/issuer.md); these defaults suit a container: listen on all
# interfaces, keep the key file (and a SQLite database, if no PostgreSQL URL is given) in the volume.
ENV PATH=/opt/netid/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NETID_ISSUER_HOST=0.0.0.0 \
    NETID_ISSUER_PORT=8000 \
    NETID_ISSUER_DATABASE_URL=sqlite:////var/lib/netid/issuer.db \
    NETID_ISSUER_KEYSTORE_PATH=/var/lib/netid/issuer-keys.json
# numeric, so that an orchestrator can check runAsNonRoot without reading /etc/passwd
USER ${NETID_UID}:${NETID_UID}
WORKDIR /var/lib/netid
VOLUME ["/var/lib/netid"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NETID_ISSUER_PORT', '8000'), timeout=4)"]
# `netid-issuer init` (migrations and keys) runs once per deployment before this: compose.yaml's `init`
STOPSIGNAL SIGTERM
CMD ["netid-issuer", "serve"]
