# Image for both the API (`npm run api`, the default) and the worker (`npm run worker`).
# TypeScript runs through tsx, so there is no build step.
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

# After `npm ci`: with NODE_ENV=production it would skip dev dependencies.
ENV NODE_ENV=production
USER node
EXPOSE 3000
CMD ["npm", "run", "api"]
