# voxweb image: the same code runs the web server, the worker, beat and voxsim (docker-compose.yml picks which).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    VOXWEB_VAR_DIR=/app/var

WORKDIR /app
RUN groupadd --system voxweb && useradd --system --gid voxweb --home /app voxweb

COPY pyproject.toml README.md ./
COPY voxweb ./voxweb
COPY reimaging ./reimaging
COPY voxsim ./voxsim
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install . && mkdir -p var && chown -R voxweb:voxweb /app

# collectstatic needs settings to load; these throwaway values exist only during the build.
RUN DEBUG=0 SECRET_KEY=build FIELD_ENCRYPTION_KEY=YnVpbGQtb25seS1rZXktYnVpbGQtb25seS1rZXktMDA= \
    VOXEL_API_URL=http://build/ VOXEL_API_KEY=build VOXEL_API_SECRET=build ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput -v0 && chown -R voxweb:voxweb var

USER voxweb
EXPOSE 8000
CMD ["python", "-m", "uvicorn", "voxweb.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
