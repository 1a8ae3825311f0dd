# Container image of a Lambda function that runs on this custom runtime (after-response phase included).
# Build from the repository root; the function's code is the folder FUNCTION_DIR (see images/README.md):
#   docker build --build-arg FUNCTION_DIR=images/hello -t lambda-hello .
#   docker run --rm -p 9000:8080 lambda-hello        # the base image's RIE serves the function locally
#
# BASE_IMAGE: any image with the contract of public.ecr.aws/lambda/provided (/lambda-entrypoint.sh,
# LAMBDA_TASK_ROOT, LAMBDA_RUNTIME_DIR, dnf). For reproducible builds pin it by digest:
#   --build-arg BASE_IMAGE=public.ecr.aws/lambda/provided:al2023@sha256:<digest>
# (`docker buildx imagetools inspect public.ecr.aws/lambda/provided:al2023` prints the current one).
# The default below is the moving tag, NOT pinned: the digest could not be looked up where this file
# was written (that registry is unreachable there). Pin it in your own builds.
ARG BASE_IMAGE=public.ecr.aws/lambda/provided:al2023
# 3.11, 3.12, 3.13 or 3.14: AL2023 packages each as pythonX.Y (and pythonX.Y-pip), installed side by side
# (https://docs.aws.amazon.com/linux/al2023/ug/python.html); whether the minimal base has a python3 at all is not
# relied on (bootstrap runs RUNTIME_PYTHON below). 3.15 is not in AL2023: Lambda offers it as a preview only.
ARG PYTHON_VERSION=3.12

# ---- python: the base image plus the interpreter, shared by the build and the final stage ----
FROM ${BASE_IMAGE} AS python
ARG PYTHON_VERSION
# No version pin on purpose: AL2023 ships one build of each pythonX.Y per release, and the
# release is fixed by the (pinned) base image. install_weak_deps=0 keeps pip out of the final image.
# hadolint ignore=DL3041
RUN dnf install -y --setopt=install_weak_deps=0 --nodocs "python${PYTHON_VERSION}" \
    && dnf clean all \
    && rm -rf /var/cache/dnf /var/cache/yum
# bootstrap runs ${RUNTIME_PYTHON:-python3}: name the interpreter installed above.
# PYTHONPATH: the runtime package and its dependencies live in LAMBDA_RUNTIME_DIR, as in the
# managed Python runtimes; the function (and its dependencies) in LAMBDA_TASK_ROOT, the working
# directory, which `python -m` puts first on sys.path.
ENV RUNTIME_PYTHON="/usr/bin/python${PYTHON_VERSION}" \
    PYTHONPATH="${LAMBDA_RUNTIME_DIR}"

# ---- build: pip, the runtime and the function's dependencies, bytecode-compiled ----
FROM python AS build
ARG PYTHON_VERSION
# hadolint ignore=DL3041
RUN dnf install -y --setopt=install_weak_deps=0 --nodocs "python${PYTHON_VERSION}-pip" \
    && dnf clean all \
    && rm -rf /var/cache/dnf /var/cache/yum

# Build stage only (the final stage has no pip): no pip cache, no version check, no root warning.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The runtime first: this layer is shared by every function image and cached across builds.
COPY pyproject.toml README.md LICENSE /src/runtime/
COPY scripts/after-response-runtime /src/runtime/scripts/
COPY runtime/ /src/runtime/runtime/
# --target: a plain folder, not the interpreter's site-packages, so the final stage can copy it
# without pip. bootstrap goes where /lambda-entrypoint.sh execs it: not the repository's shell
# script but the wheel's command (bin/after-response-runtime), a Python script whose shebang pip
# points at the interpreter, so that no shell starts at every cold start (~0.5 ms); -u is added to
# that shebang (stdout unbuffered by the interpreter, not by a wrapper). The rest of bin/ (scripts
# a dependency may bring) is of no use in Lambda. The shell script is for zips, where
# RUNTIME_PYTHON names the interpreter at run time. --no-compile, then compileall with unchecked-hash: the .pyc
# files stay valid whatever mtimes the layers give the .py files, and Lambda's read-only file
# system means a missing .pyc is recompiled at every cold start.
# chmod: readable by the unprivileged user Lambda runs the function as, whatever the modes were.
RUN "${RUNTIME_PYTHON}" -m pip install --no-cache-dir --no-compile \
        --target "${LAMBDA_RUNTIME_DIR}" /src/runtime \
    && sed '1s/$/ -u/' "${LAMBDA_RUNTIME_DIR}/bin/after-response-runtime" > "${LAMBDA_RUNTIME_DIR}/bootstrap" \
    && rm -rf "${LAMBDA_RUNTIME_DIR:?}/bin" \
    && chmod 0755 "${LAMBDA_RUNTIME_DIR}/bootstrap" \
    && "${RUNTIME_PYTHON}" -m compileall -q -j 0 --invalidation-mode unchecked-hash "${LAMBDA_RUNTIME_DIR}" \
    && chmod -R a+rX "${LAMBDA_RUNTIME_DIR}"

# The function: FUNCTION_DIR (relative to the build context) holds the handler code and, if it
# needs any, a requirements.txt whose packages are installed next to the code, as in a zip deployment.
ARG FUNCTION_DIR=images/hello
COPY ${FUNCTION_DIR}/ ${LAMBDA_TASK_ROOT}/
RUN if [ -f "${LAMBDA_TASK_ROOT}/requirements.txt" ]; then \
        "${RUNTIME_PYTHON}" -m pip install --no-cache-dir --no-compile \
            --target "${LAMBDA_TASK_ROOT}" -r "${LAMBDA_TASK_ROOT}/requirements.txt"; \
    fi \
    && "${RUNTIME_PYTHON}" -m compileall -q -j 0 --invalidation-mode unchecked-hash "${LAMBDA_TASK_ROOT}" \
    && chmod -R a+rX "${LAMBDA_TASK_ROOT}"

# ---- final: interpreter + runtime + function; no pip, no build context, no caches ----
FROM python
COPY --from=build ${LAMBDA_RUNTIME_DIR}/ ${LAMBDA_RUNTIME_DIR}/
COPY --from=build ${LAMBDA_TASK_ROOT}/ ${LAMBDA_TASK_ROOT}/
# The handler, MODULE.FUNCTION relative to LAMBDA_TASK_ROOT; every example in images/ uses app.handler.
# Override it at run time (`docker run IMAGE other.handler`) or with the function's ImageConfig.Command.
CMD ["app.handler"]
