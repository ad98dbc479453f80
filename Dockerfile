# One image for web, worker and scheduler; the command chooses the role.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt Makefile ./
RUN make .venv/.installed .tools/node_modules/.bin/bun
COPY . .
RUN make install && useradd --system --home /app mailer && chown -R mailer /app
USER mailer

ENV HOST=0.0.0.0 PORT=8000 PATH=/app/.venv/bin:$PATH
EXPOSE 8000
CMD ["python", "-m", "mass_mailer", "web"]
