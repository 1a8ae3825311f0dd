"""A CDK app (Python) with the ways to deploy a function on the after-response runtime (README "Deploying"); it
declares the same functions as deploy/sam/template.yaml:

- `WebFunction`: a container image from the repository's Dockerfile (the FastAPI app of images/web), with a Function
  URL;
- `StreamFunction`: the same Dockerfile with images/stream (a handler returning a `StreamingResponse`), behind a
  Function URL in `RESPONSE_STREAM` invoke mode;
- `DurableFunction`: the same Dockerfile with examples/durable, a durable execution (`durable_config`: the service
  invokes it again after each wait, replaying it), allowed to checkpoint;
- `HelloFunction`: examples/hello as a zip on the managed python3.14 runtime, with this runtime's layer and
  `AWS_LAMBDA_EXEC_WRAPPER=/opt/after-response`, published as the alias `live`; SnapStart off (see below).

Setup, from the repository root: the CDK CLI (`npm install -g aws-cdk`), and the app's Python packages in a virtual
environment: `python3 -m venv .venv-cdk && . .venv-cdk/bin/activate && pip install -r deploy/cdk/requirements.txt`
(aws-cdk-lib and constructs, in the ranges the project's own checks use). Then `make layer`, and
`cd deploy/cdk && cdk deploy` with that environment active (cdk.json runs `python3 app.py`). `python deploy/cdk/app.py`
only synthesizes (`CDK_OUTDIR` names the output folder); `AFTER_RESPONSE_LAYER_ZIP` points at another layer zip.

The Function URLs are IAM-authenticated: sign requests with SigV4 for the service `lambda` (awscurl, curl
--aws-sigv4, botocore's SigV4Auth), or put CloudFront with an origin access control in front; the comment at the top
of deploy/sam/template.yaml shows the commands and cites AWS's pages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ROOT = Path(__file__).resolve().parents[2]
DURABLE_DIR = "examples/durable"
LAYER_ZIP = Path(os.environ.get("AFTER_RESPONSE_LAYER_ZIP", ROOT / "dist" / "after-response-layer.zip"))

# The architecture the functions run on, and the platform their images are built for: without an explicit platform
# the image is built for the machine's own (linux/arm64 on an arm64 laptop), which an x86_64 function cannot run.
# Both follow ARCHITECTURE: to deploy on Graviton, set it to lambda_.Architecture.ARM_64 and the images are built for
# linux/arm64 too (the layer is pure Python and lists both architectures). The SAM template has the same switch
# (Globals: Architectures).
ARCHITECTURE = lambda_.Architecture.X86_64
PLATFORMS = {
    lambda_.Architecture.X86_64.name: ecr_assets.Platform.LINUX_AMD64,
    lambda_.Architecture.ARM_64.name: ecr_assets.Platform.LINUX_ARM64,
}
PLATFORM = PLATFORMS[ARCHITECTURE.name]

# SnapStart on HelloFunction: off. On Python it is billed (https://aws.amazon.com/lambda/pricing/#SnapStart_Pricing):
# a cache charge per GB-second of memory for as long as each published version exists (3 hours minimum), and a
# restore charge per GB each time an environment is restored; in us-east-1 at 512 MB about $1.95 per 30 days for
# every version kept (0.5 GB x 2,592,000 s x $0.0000015046), whether invoked or not, plus $0.00007 per restore
# (0.5 GB x $0.0001397998). `live` publishes a version at each deploy that changes the function (here the previous
# one is deleted, as the CDK's version resource has no Retain policy; SAM's keeps them). This function's init is
# small, and this runtime's SnapStart hooks are tested against the project's emulator, not on Lambda. To turn it on,
# set SNAP_START = lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS (CloudFormation: SnapStart.ApplyOn
# PublishedVersions) and invoke the alias `live`, not $LATEST.
SNAP_START: lambda_.SnapStartConf | None = None


class AfterResponseStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]

        def image(folder: str) -> lambda_.DockerImageCode:
            # The Dockerfile's build context is the repository root (its .dockerignore keeps it small).
            return lambda_.DockerImageCode.from_image_asset(
                str(ROOT), file="Dockerfile", build_args={"FUNCTION_DIR": folder}, platform=PLATFORM
            )

        web = lambda_.DockerImageFunction(
            self,
            "WebFunction",
            code=image("images/web"),
            architecture=ARCHITECTURE,
            environment={"AUDIT_URL": ""},
            memory_size=512,
            timeout=cdk.Duration.seconds(10),
        )
        web_url = web.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)

        # RESPONSE_STREAM: the Function URL passes each chunk on as the runtime posts it (BUFFERED, the default,
        # would wait for the whole body).
        stream = lambda_.DockerImageFunction(
            self,
            "StreamFunction",
            code=image("images/stream"),
            architecture=ARCHITECTURE,
            memory_size=512,
            timeout=cdk.Duration.seconds(10),
        )
        stream_url = stream.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.AWS_IAM, invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM
        )

        # Durable executions of up to an hour, their history kept a week; the timeout bounds each invocation (each
        # replay), not the execution. The role may checkpoint (lambda:CheckpointDurableExecution and
        # lambda:GetDurableExecutionState, in AWS's managed policy): the CDK attaches the policy itself when
        # durable_config is set; the explicit line keeps it so whatever the CDK version (it is not listed twice).
        durable = lambda_.DockerImageFunction(
            self,
            "DurableFunction",
            code=image(DURABLE_DIR),
            architecture=ARCHITECTURE,
            memory_size=512,
            timeout=cdk.Duration.seconds(10),
            durable_config=lambda_.DurableConfig(
                execution_timeout=cdk.Duration.hours(1), retention_period=cdk.Duration.days(7)
            ),
        )
        assert durable.role is not None
        durable.role.add_managed_policy(
            iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaBasicDurableExecutionRolePolicy")
        )

        # The layer on a managed runtime: the managed bootstrap runs the wrapper, which runs this runtime's loop.
        layer = lambda_.LayerVersion(
            self,
            "RuntimeLayer",
            code=lambda_.Code.from_asset(str(LAYER_ZIP)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12, lambda_.Runtime.PYTHON_3_13, lambda_.Runtime.PYTHON_3_14],
            compatible_architectures=[lambda_.Architecture.X86_64, lambda_.Architecture.ARM_64],
            description="The after-response runtime (AWS_LAMBDA_EXEC_WRAPPER=/opt/after-response)",
        )
        hello = lambda_.Function(
            self,
            "HelloFunction",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="app.handler",
            code=lambda_.Code.from_asset(str(ROOT / "examples" / "hello")),
            architecture=ARCHITECTURE,
            layers=[layer],
            environment={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/after-response"},
            memory_size=512,
            timeout=cdk.Duration.seconds(10),
            snap_start=SNAP_START,
        )
        live = hello.add_alias("live")  # as SAM's AutoPublishAlias: a version published at each change
        cdk.CfnOutput(self, "WebFunctionUrl", value=web_url.url)
        cdk.CfnOutput(self, "StreamFunctionUrl", value=stream_url.url)
        cdk.CfnOutput(self, "HelloFunctionAlias", value=live.function_arn)


def main() -> None:
    if not LAYER_ZIP.is_file():
        sys.exit(f"{LAYER_ZIP} does not exist: build it with `make layer` first")
    app = cdk.App()
    AfterResponseStack(app, "AfterResponseRuntime")
    app.synth()


if __name__ == "__main__":
    main()
