# mtq services image: `docker compose up` builds it once for every mtq service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bus bus
COPY agents agents
COPY domain domain
COPY engine engine
COPY projections projections
COPY config config
COPY mtq mtq
RUN pip install --no-cache-dir ".[postgres]"
ENTRYPOINT ["mtq"]
