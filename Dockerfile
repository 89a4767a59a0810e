# One image recipe for every hub service; pick one with --target (compose does).
# The process is the same one `make run` starts: `python -m <service>`, configured by environment.
# Swagger UI and the AsyncAPI component, from npm at build time: /docs and /asyncapi render on a
# closed network (crmhub.web serves them from shared/crmhub/ui_assets/node_modules).
FROM node:20-slim AS ui-assets
WORKDIR /assets
COPY shared/crmhub/ui_assets/package.json shared/crmhub/ui_assets/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app/shared:/app/services/leads:/app/services/telephony:/app/services/deals:/app/services/motivation:/app/services/notifier
WORKDIR /app
COPY requirements.lock .
# Pango and fonts for WeasyPrint (documents rendered to PDF, docs/documents.md)
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir -r requirements.lock \
 && useradd --system --uid 10001 --home /app hub
COPY shared shared
COPY services services
COPY --from=ui-assets /assets/node_modules/swagger-ui-dist shared/crmhub/ui_assets/node_modules/swagger-ui-dist
COPY --from=ui-assets /assets/node_modules/@asyncapi/react-component shared/crmhub/ui_assets/node_modules/@asyncapi/react-component
COPY deploy/demo deploy/demo
USER hub
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['SERVICE_PORT'] + '/health', timeout=2)"

FROM base AS leads
ENV SERVICE_PORT=8001
EXPOSE 8001
CMD ["python", "-m", "leads"]

FROM base AS telephony
ENV SERVICE_PORT=8002
EXPOSE 8002
CMD ["python", "-m", "telephony"]

FROM base AS deals
ENV SERVICE_PORT=8003
EXPOSE 8003
CMD ["python", "-m", "deals"]

FROM base AS motivation
ENV SERVICE_PORT=8004
EXPOSE 8004
CMD ["python", "-m", "motivation"]

FROM base AS notifier
ENV SERVICE_PORT=8005
EXPOSE 8005
CMD ["python", "-m", "notifier"]
