# The grading image: CPU torch for the sandboxed worker, non-root, no network at run time.
# Built offline on a locally made base (see scripts/docker_sandbox_test.sh):
#   debootstrap --variant=minbase --include=python3,python3-venv bookworm ROOTFS
#   tar -C ROOTFS -c . | docker import - nlpgrade-base:bookworm
# The build context holds wheels/ (torch==2.13.0, safetensors, numpy and their dependencies).
FROM nlpgrade-base:bookworm

ENV PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 OMP_NUM_THREADS=1
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --disable-pip-version-check --find-links /tmp/wheels \
        torch==2.13.0 safetensors numpy \
 && rm -rf /tmp/wheels /root/.cache \
 && /opt/venv/bin/python -c "import torch, safetensors; print(torch.__version__)" \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin grader \
 && mkdir -p /opt/nlpgrade /scratch /submission /kit && chown grader:grader /scratch

ENV PATH=/opt/venv/bin:/usr/bin:/bin
USER 10001:10001
WORKDIR /scratch
CMD ["/opt/venv/bin/python", "-c", "import torch; print('nlpgrade worker image, torch', torch.__version__)"]
