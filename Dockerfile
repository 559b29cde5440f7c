# syntax=docker/dockerfile:1
#
# streamrec: ONE image for the three services (see docs/DEPLOY.md for why). The command picks
# the service; the default is the gateway:
#
#   docker run streamrec:local                                  # python -m gateway
#   docker run streamrec:local python -m resolver_service
#   docker run streamrec:local python -m recorder_service
#
# tini is PID 1: it forwards SIGTERM to the service and reaps every child (the recorder's ffmpeg
# runs under setsid/setpriv from util-linux). The image's HEALTHCHECK fits the gateway; compose
# (and `docker run --health-cmd`) replaces it for the gRPC services, Kubernetes probes natively.
#
#   docker build -t streamrec:local \
#     --build-arg BUILD_COMMIT="$(git rev-parse --short=12 HEAD)" \
#     --build-arg BUILD_TIME="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# --- web: the dashboard's assets, built from package-lock.json (esbuild, hls.js) ---------------
FROM ${NODE_IMAGE} AS web
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY gateway/web/ gateway/web/
RUN npm run build

# --- build: a virtualenv with streamrec and its dependencies ----------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python -m venv /opt/streamrec

WORKDIR /src
COPY pyproject.toml README.md ./
COPY streamrec/ streamrec/
COPY servicekit/ servicekit/
COPY resolver_service/ resolver_service/
COPY recorder_service/ recorder_service/
COPY gateway/ gateway/
COPY --from=web /src/gateway/web/dist/ gateway/web/dist/
COPY streamrec_cli/ streamrec_cli/

# The image runs Debian's ffmpeg (FFMPEG_PATH below): drop the copy bundled in the
# imageio-ffmpeg wheel (~80 MB) that would only be a fallback.
RUN /opt/streamrec/bin/pip install . \
 && find /opt/streamrec/lib -path '*/imageio_ffmpeg/binaries/ffmpeg-*' -type f -delete \
 && /opt/streamrec/bin/python -c "import gateway, recorder_service, resolver_service, servicekit.healthcheck, streamrec.v1" \
 && /opt/streamrec/bin/python -c "import pathlib, gateway; d = pathlib.Path(gateway.__file__).parent / 'web'; assert (d / 'dist/app.js').is_file() and (d / 'pages/index.html').is_file(), 'dashboard assets missing'"

# --- runtime ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG BUILD_COMMIT=unknown
ARG BUILD_TIME=unknown

LABEL org.opencontainers.image.title="streamrec" \
      org.opencontainers.image.description="Self-hosted HLS live-stream recorder: resolver and recorder (gRPC) and the HTTP gateway in one image" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${BUILD_COMMIT}" \
      org.opencontainers.image.created="${BUILD_TIME}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# ffmpeg records; tini is the init; util-linux brings setsid and setpriv (essential in Debian,
# named here so that the image says what the recorder needs); tzdata lets TZ name a zone
# (recording file names use local time). Check that the tools are there. Versions are not
# pinned: bookworm's point releases and security updates replace them (rebuild with --pull).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini tzdata util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && /usr/bin/ffmpeg -hide_banner -version > /dev/null \
 && test -x /usr/bin/tini && test -x /usr/bin/setsid && test -x /usr/bin/setpriv

# A fixed, non-root identity (Kubernetes runAsUser/fsGroup and bind mounts rely on it); /data
# is theirs, so a fresh named volume mounted there starts out writable.
RUN groupadd --system --gid 10001 streamrec \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin streamrec \
 && install -d -o 10001 -g 10001 -m 0750 /data

COPY --from=build /opt/streamrec /opt/streamrec

# PYTHONSAFEPATH: `python -m` does not put the working directory first on sys.path.
# *_HOST: inside a container the services listen on every interface of its own network.
ENV PATH=/opt/streamrec/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONSAFEPATH=1 \
    LOG_FORMAT=json \
    FFMPEG_PATH=/usr/bin/ffmpeg \
    OUTPUT_DIR=/data \
    RESOLVER_HOST=0.0.0.0 \
    RECORDER_HOST=0.0.0.0 \
    GATEWAY_HOST=0.0.0.0 \
    BUILD_COMMIT=${BUILD_COMMIT} \
    BUILD_TIME=${BUILD_TIME}

WORKDIR /opt/streamrec
USER 10001:10001
# 8080 gateway (HTTP, /metrics too), 50051 resolver, 50052 recorder (gRPC); 9091/9092 their
# metrics ports (RESOLVER_METRICS_PORT, RECORDER_METRICS_PORT).
EXPOSE 8080 50051 50052 9091 9092

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-m", "servicekit.healthcheck", "http", "http://127.0.0.1:8080/healthz"]

ENTRYPOINT ["tini", "--"]
CMD ["python", "-m", "gateway"]
