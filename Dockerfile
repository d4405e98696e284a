# One image for the `mlflow` tracking server and the `mlpose` trainer of docker-compose.yml.
#   docker-compose build                    # CUDA-enabled torch from PyPI (Linux x86_64 wheels)
#   docker-compose build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
FROM python:3.11-slim

ARG TORCH_INDEX_URL=
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, in its own layer: it is the largest download and changes least often.
RUN pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch

WORKDIR /app
COPY . /app
# boto3: the tracking server writes artifacts to the S3-style store (MinIO) for the clients.
RUN pip install /app boto3 \
    && chmod +x /app/docker/*.sh \
    && mkdir -p /app/work_dirs /app/data

CMD ["mlpose", "--help"]
