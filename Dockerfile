# The agentaudit image used by docker-compose.yml (collector and dashboard).
FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir '.[all]' && useradd --system --uid 10001 agentaudit \
    && mkdir -p /var/lib/agentaudit && chown agentaudit /var/lib/agentaudit
USER agentaudit
EXPOSE 4317 4318 4320 8501
CMD ["agentaudit", "collector", "--help"]
