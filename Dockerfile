# matrix-notary: one image for every role; the role is the argument (`docker run IMAGE api`).
# Plain Dockerfile syntax (no BuildKit-only features), so the classic builder builds it too.

# ---- build: install everything, compile TypeScript, then drop the dev dependencies ----
FROM node:20-bookworm-slim AS build
WORKDIR /src
# Manifests first, so the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/common/package.json packages/common/
COPY packages/store/package.json packages/store/
COPY packages/federation/package.json packages/federation/
COPY packages/signer-client/package.json packages/signer-client/
COPY packages/signer/package.json packages/signer/
COPY packages/api/package.json packages/api/
COPY packages/worker/package.json packages/worker/
COPY packages/keyring/package.json packages/keyring/
COPY packages/cli/package.json packages/cli/
COPY packages/testing/package.json packages/testing/
# --ignore-scripts: the root "prepare" script compiles, and the sources are not here yet.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY packages/ packages/
# The test helpers (packages/testing) are a workspace too: leave the workspace list before pruning
# so their dependencies (load generators, certificate tools) do not ship.
RUN npx tsc -b \
 && node -e "const fs=require('fs');const p=JSON.parse(fs.readFileSync('package.json'));p.workspaces=p.workspaces.filter(w=>w!=='packages/testing');fs.writeFileSync('package.json',JSON.stringify(p,null,2))" \
 && rm -rf packages/testing \
 && npm prune --omit=dev --no-audit --no-fund --ignore-scripts \
 && rm -rf packages/*/src packages/*/tsconfig.json packages/*/*.tsbuildinfo \
 && find packages -name '*.map' -delete -o -name '*.d.ts' -delete

# ---- runtime: compiled code and production dependencies only ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/packages/ packages/
# The only place the notary writes (the key `all` creates on a first run); every role can run
# with a read-only root filesystem. A numeric user, so Kubernetes can check runAsNonRoot.
RUN mkdir -p /var/lib/matrix-notary && chown 10001:10001 /var/lib/matrix-notary && chmod 0700 /var/lib/matrix-notary
VOLUME ["/var/lib/matrix-notary"]
WORKDIR /var/lib/matrix-notary
USER 10001:10001
# api 8080, signer 8081, metrics 9464 (the defaults; see the README's configuration table)
EXPOSE 8080 8081 9464
ENTRYPOINT ["node", "/app/packages/cli/bin/matrix-notary.js"]
CMD ["help"]
