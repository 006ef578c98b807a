# syntax=docker/dockerfile:1
# The licensing service. `docker compose up -d --build` runs it with PostgreSQL 16 (see
# docker-compose.yml). Alone, give it DATABASE_URL, or let it start the embedded PostgreSQL in
# $LICENSING_DATA_DIR and keep that in a volume:
#   docker run -p 8000:8000 -e LICENSING_JWT_SECRET=… -v licensing-data:/var/lib/licensing IMAGE

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Only what the package is built from (see [tool.setuptools] in pyproject.toml): engine/, db/
# (with db/data/*.csv and db/migrations), services/, gql/. All dependencies ship as wheels: no compiler.
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY db ./db
COPY services ./services
COPY gql ./gql
RUN pip install . \
    && licensing --help > /dev/null

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    LICENSING_DATA_DIR=/var/lib/licensing
# An unprivileged user: the service needs no root, and PostgreSQL (embedded) refuses root.
RUN groupadd --system --gid 10001 licensing \
    && useradd --system --uid 10001 --gid licensing --home-dir /home/licensing --create-home \
        --shell /usr/sbin/nologin licensing \
    && mkdir -p /var/lib/licensing \
    && chown licensing:licensing /var/lib/licensing
COPY --from=build /opt/venv /opt/venv
USER licensing
WORKDIR /home/licensing
EXPOSE 8000
# Ready = the database answers (/readyz); /healthz only says the process is up.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8000/readyz', timeout=4)"]
CMD ["licensing", "serve", "--host", "0.0.0.0", "--port", "8000"]
