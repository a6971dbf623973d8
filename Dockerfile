# CBSA as a container: `docker build -t cbsa .` then `docker run -p 8000:8000 cbsa` (docs/container.md).
# Both stages start from the same Node 24 image; NODE_IMAGE names a mirror or a local stand-in for it.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
LABEL org.opencontainers.image.title=cbsa
WORKDIR /src
# The lockfile and the workspace manifests first: the dependency layer is reused until they change.
COPY package.json package-lock.json ./
COPY client/package.json client/
RUN npm ci --no-audit --no-fund --no-update-notifier
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src src
RUN npm run build

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title=cbsa
# tini as PID 1: it forwards SIGTERM to Node (which then drains every socket with 1001) and reaps
# any child that exits, the cluster workers among them (WORKERS > 1).
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
# A numeric user, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --gid 10001 cbsa \
  && useradd --uid 10001 --gid cbsa --no-create-home --shell /usr/sbin/nologin cbsa
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8000
COPY package.json package-lock.json ./
COPY client/package.json client/
# Production dependencies only. No install scripts: none of them needs one to run.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --no-update-notifier --cache /tmp/npm-cache \
  && rm -rf /tmp/npm-cache
COPY --from=build /src/dist dist
COPY public public
USER 10001:10001
EXPOSE 8000
# Node, not curl (the image has none): exit 0 only on a 2xx from the liveness probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health/live`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
