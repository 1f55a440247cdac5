# syntax=docker/dockerfile:1
# The chainnode image: runs a node (`node start ...`, the LedgerNetwork pods) and the operator
# (`node dist/operator/main.js`, the Helm chart's Deployment).
#   docker build -t chainnode/chainnode:0.1.0 .
# Multi-stage: TypeScript is compiled in `build`; the runtime has only dist/ and the production
# node_modules, runs as the unprivileged `node` user (uid 1000), and has no compiler or npm cache.

ARG NODE_IMAGE=node:20-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY node ./node
COPY certs ./certs
COPY operator ./operator
RUN npm run build

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps --chown=root:root /src/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
COPY --chown=root:root package.json ./
# Shipped at run time: the sample contracts (`up`, lifecycle probes) and the OpenAPI document the API serves.
COPY --chown=root:root contracts ./contracts
COPY --chown=root:root docs ./docs
# The explorer's static page is served from the package root too (no build step).
COPY --chown=root:root node/api/explorer/static ./node/api/explorer/static
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
ENTRYPOINT ["node", "dist/node/cli/main.js"]
CMD ["--help"]
