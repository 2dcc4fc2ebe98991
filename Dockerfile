# syntax=docker/dockerfile:1
# phishbot's image: the wheel `python -m build` makes, and the wheels of its dependencies, installed into a virtual
# environment on a slim Python base. Build: docker build -t phishbot .   Run: docker run --env-file .env phishbot
# (README, "Deploy"). .ci/check-wheel runs the same build and install steps outside Docker, as a non-root user
# with a read-only root, and hadolint lints this file in CI.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: phishbot's wheel, then a wheelhouse of it and every dependency (PostgreSQL driver included) ----------
# The build stage is thrown away: only the final image carries the labels.
# hadolint ignore=DL3049
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m pip install --no-cache-dir build==1.6.1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
RUN python -m build --wheel --outdir /dist . \
 && python -m pip wheel --no-cache-dir --wheel-dir /wheels "$(find /dist -name 'phishbot-*.whl')[postgres]"

# --- the image: the wheels installed, nothing else: no compiler, no source, no pip --------------------------------
FROM ${PYTHON_IMAGE}
# The version lives in pyproject.toml only: pass it for the label (the build fails if it is not the wheel's),
# e.g. --build-arg VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)" --build-arg REVISION="$(git rev-parse HEAD)"
ARG PYTHON_IMAGE
ARG VERSION=""
ARG REVISION=""
LABEL org.opencontainers.image.title="phishbot" \
      org.opencontainers.image.description="Slack bot for phishing incident response on Microsoft 365 (Defender for Office 365)" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
ENV PATH=/opt/phishbot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8 \
    HOME=/data
# The code is root's and read-only to the bot; the bot's user owns only /data, the one place it writes (the
# default DATABASE_URL, sqlite:///phishbot.db, is relative to it). deploy/install-wheel is the step CI runs too.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,source=deploy/install-wheel,target=/usr/local/bin/install-wheel \
    groupadd --system --gid 10001 phishbot \
 && useradd --system --uid 10001 --gid phishbot --home-dir /data --no-create-home --shell /usr/sbin/nologin phishbot \
 && install -d -o phishbot -g phishbot -m 0750 /data \
 && sh /usr/local/bin/install-wheel /opt/phishbot /wheels \
 && { [ -z "$VERSION" ] || [ "$(phishbot --version)" = "phishbot $VERSION" ]; }
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
# /slack/events (HTTP mode), /healthz, /readyz and /metrics, in both modes.
EXPOSE 3000
# Liveness: 200 while the process serves, 503 once it stops. Straight to loopback, never through a proxy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["phishbot"]
CMD ["run"]
