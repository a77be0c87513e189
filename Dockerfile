# Production dependencies only: nothing under src/ imports a devDependency at run time
# (test/container.test.ts checks), so the image never holds the compiler, vitest or codegen.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# Build stage: compile TypeScript to dist/ (tsc copies src/generated/persisted-documents.json,
# which src/yoga.ts imports).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# Runtime stage: compiled JavaScript and production dependencies, owned by root and only read by
# the unprivileged `node` user of the base image. The one place it writes is /var/lib/gencache,
# for CACHE_SNAPSHOT_PATH (e.g. /var/lib/gencache/snapshot.json, which the start checks is
# writable); mount a volume there to keep a snapshot across containers, one volume per replica.
FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000
WORKDIR /app
RUN install -d -o node -g node -m 0750 /var/lib/gencache
COPY --from=deps /app/package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 4000
# /ready, not /health: an instance whose generator cannot take work is unhealthy. Node's fetch,
# since the slim image has no curl; PORT is read at check time, so `-e PORT=…` is followed.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 4000}/ready`, { signal: AbortSignal.timeout(4000) }).then((response) => process.exit(response.ok ? 0 : 1), () => process.exit(1))"]
# node directly, not npm start: npm does not forward SIGTERM, and shutdown must be graceful.
CMD ["node", "dist/index.js"]
