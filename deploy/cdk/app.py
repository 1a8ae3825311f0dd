"""A CDK app (Python) with the two ways to deploy a function on the after-response runtime (README "Deploying"):

- `WebFunction`: a container image from the repository's Dockerfile (the FastAPI app of images/web), with a Function
  URL;
- `HelloFunction`: examples/hello as a zip on the managed python3.12 runtime, with this runtime's layer and
  `AWS_LAMBDA_EXEC_WRAPPER=/opt/after-response`.

From the repository root: `make layer`, then `cd deploy/cdk && cdk deploy` (or `python deploy/cdk/app.py` to
synthesize only; `CDK_OUTDIR` names the output folder). `AFTER_RESPONSE_LAYER_ZIP` points at another layer zip.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ROOT = Path(__file__).resolve().parents[2]
LAYER_ZIP = Path(os.environ.get("AFTER_RESPONSE_LAYER_ZIP", ROOT / "dist" / "after-response-layer.zip"))


class AfterResponseStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]

        # The image: the Dockerfile's build context is the repository root (its .dockerignore keeps it small).
        web = lambda_.DockerImageFunction(
            self,
            "WebFunction",
            code=lambda_.DockerImageCode.from_image_asset(
                str(ROOT), file="Dockerfile", build_args={"FUNCTION_DIR": "images/web"}
            ),
            memory_size=512,
            timeout=cdk.Duration.seconds(10),
        )
        url = web.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)

        # The layer on a managed runtime: the managed bootstrap runs the wrapper, which runs this runtime's loop.
        layer = lambda_.LayerVersion(
            self,
            "RuntimeLayer",
            code=lambda_.Code.from_asset(str(LAYER_ZIP)),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12, lambda_.Runtime.PYTHON_3_13],
            compatible_architectures=[lambda_.Architecture.X86_64, lambda_.Architecture.ARM_64],
            description="The after-response runtime (AWS_LAMBDA_EXEC_WRAPPER=/opt/after-response)",
        )
        hello = lambda_.Function(
            self,
            "HelloFunction",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="app.handler",
            code=lambda_.Code.from_asset(str(ROOT / "examples" / "hello")),
            layers=[layer],
            environment={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/after-response"},
            memory_size=512,
            timeout=cdk.Duration.seconds(10),
        )
        cdk.CfnOutput(self, "WebFunctionUrl", value=url.url)
        cdk.CfnOutput(self, "HelloFunctionName", value=hello.function_name)


def main() -> None:
    if not LAYER_ZIP.is_file():
        sys.exit(f"{LAYER_ZIP} does not exist: build it with `make layer` first")
    app = cdk.App()
    AfterResponseStack(app, "AfterResponseRuntime")
    app.synth()


if __name__ == "__main__":
    main()
