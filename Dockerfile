# Image of the streaming worker and the simulator (`campaign-kpi worker|simulate`).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY streams ./streams
COPY schemas ./schemas
RUN pip install --require-hashes -r requirements.lock && pip install --no-deps . \
    && useradd --create-home --uid 10001 kpi \
    && mkdir -p /var/lib/campaign-kpi && chown kpi /var/lib/campaign-kpi

USER kpi
# Faust's data dir (the worker's state itself lives in Kafka, see docs/architecture.md).
WORKDIR /var/lib/campaign-kpi
EXPOSE 16066
CMD ["campaign-kpi", "worker"]
