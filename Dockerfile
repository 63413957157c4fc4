# One image for both halves of the service: `api` (the default command) and `worker`.
#
#   docker build -t webhook-delivery .
#   docker run … webhook-delivery            # the API on port 3000
#   docker run … webhook-delivery worker     # the worker; GET /healthz on port 3001
#
# node is PID 1 (exec-form ENTRYPOINT, no npm or shell in between), so `docker stop` and
# Kubernetes' SIGTERM reach the service itself: the worker lets attempts in flight finish (up to
# the attempt timeout + 5 s) and exits 0. Give the container a stop grace period longer than that
# (docker-compose.yml: 40 s).

# --- build: compile TypeScript and bundle the workflow code (npm run build) ---
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY core ./core
COPY devtools ./devtools
COPY activities ./activities
COPY workflows ./workflows
COPY src ./src
COPY scripts/build-workflow-bundle.ts ./scripts/
RUN npm run build

# --- runtime: production dependencies and dist/ only ---
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist

# glibc's malloc arenas, as `npm start`, `npm run api` and `npm run worker` set them (README, "Configuration").
ENV MALLOC_ARENA_MAX=2
# The bundle `npm run build` wrote; named explicitly so that a missing one fails the start.
ENV TEMPORAL_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
# The worker's health endpoint (worker mode only; the API serves its own on PORT).
ENV PORT=3000 WORKER_HEALTH_PORT=3001

USER node
EXPOSE 3000 3001
# The node flags of the npm scripts (README, "Configuration"); the command picks the mode.
ENTRYPOINT ["node", "--heap-growing-percent=20", "dist/src/main.js"]
CMD ["api"]
