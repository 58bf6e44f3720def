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
ENV LLM_API_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["pluggably"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
