#!/bin/sh
# Stand-in for /lambda-entrypoint.sh of public.ecr.aws/lambda/provided (same contract, test-only):
# the image's CMD is the handler; it is exported as _HANDLER. Without AWS_LAMBDA_RUNTIME_API (i.e. not
# on Lambda) the bootstrap runs under the Runtime Interface Emulator, else it is exec'd directly.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"

RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie $RUNTIME_ENTRYPOINT
else
  exec $RUNTIME_ENTRYPOINT
fi
