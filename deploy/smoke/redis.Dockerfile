# Redis for `make compose-smoke` only: no image can be pulled there, so it comes from Debian
# on the locally built base image. compose.yaml uses the official redis image.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
# The Debian package's own system user (its uid is assigned at install time).
# hadolint ignore=DL3066
USER redis
HEALTHCHECK --interval=5s --timeout=3s --retries=10 CMD ["redis-cli", "-p", "16379", "ping"]
CMD ["redis-server", "--bind", "127.0.0.1", "--port", "16379", "--save", "", "--appendonly", "no"]
