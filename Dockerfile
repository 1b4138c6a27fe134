# syntax=docker/dockerfile:1
# ledger-graphql: build with the dev toolchain, run with production dependencies only, as the unprivileged `node` user.
#   docker build -t ledger-graphql:0.1.0 .
#   docker run -p 4000:4000 -e DATABASE_URL=postgres://... ledger-graphql:0.1.0
# Without DATABASE_URL it runs the embedded database in /app/.data (demo only: not persistent, one instance).

ARG NODE_VERSION=20

# Compile TypeScript to dist/.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only: no compiler, test runner or codegen in the image.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000
WORKDIR /app
# Files stay owned by root: the server cannot modify its own code.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY schema ./schema
COPY drizzle ./drizzle
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 4000
# No curl in slim images: Node's own fetch asks the liveness endpoint.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node runs as PID 1 and handles SIGTERM itself (graceful shutdown in src/main.ts): exec form, no npm or shell between.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
