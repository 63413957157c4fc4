# Image for both the API (`npm run api`, the default) and the worker (`npm run worker`).
# TypeScript runs through tsx; the only build step bundles the workflow code, so workers start
# without bundling it themselves.
FROM node:20-slim

WORKDIR /app

# Dependencies first, so source changes reuse this layer. Full install on purpose: tsconfig.json
# extends @tsconfig/node20, a dev dependency that tsx reads at run time.
COPY package.json package-lock.json ./
RUN npm ci && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY scripts/build-workflow-bundle.ts ./scripts/
RUN npx tsx scripts/build-workflow-bundle.ts dist/workflow-bundle.js
ENV TEMPORAL_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js

# After `npm ci`: with NODE_ENV=production it would skip dev dependencies.
ENV NODE_ENV=production
USER node
EXPOSE 3000
CMD ["npm", "run", "api"]
