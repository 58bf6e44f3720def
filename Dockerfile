# The web app (PlugAI): built with Node, served by the gateway from LLM_API_WEB_DIR.
FROM node:20-slim AS web
WORKDIR /src
COPY package.json package-lock.json ./
COPY clients/typescript/package.json clients/typescript/
COPY frontend/package.json frontend/
RUN npm ci --no-audit --no-fund
COPY docs/contracts docs/contracts
COPY clients/typescript clients/typescript
COPY frontend frontend
RUN npm run build

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY commands commands
COPY projections projections
COPY runtimes runtimes
COPY infra infra
COPY api api
ENV CMAKE_ARGS=-DGGML_NATIVE=OFF
RUN pip install --no-cache-dir ".[local,hub]"
COPY --from=web /src/frontend/dist /app/web
ENV LLM_API_DATA_DIR=/data LLM_API_WEB_DIR=/app/web
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["pluggably"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
