"""The deployment templates (deploy/), validated offline: the SAM template with cfn-lint (the version installed here
does not run the SAM transform: it merges the Globals and checks the SAM resources against SAM's schemas), the CDK
app synthesized (jsii runs on this machine's Node.js) and its template linted too. Both declare the same choices,
checked here on each: the streaming function behind a RESPONSE_STREAM Function URL, every function and image build
pinned to x86_64, and SnapStart off. Each check is a function returning the problems it finds, run on the real
template and on a copy broken on purpose (so that a check that can no longer fail is noticed)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str  # type: ignore[import-untyped]  # cfn-lint has no type information

from tests.support import ROOT

SAM_TEMPLATE = ROOT / "deploy" / "sam" / "template.yaml"
CDK_REQUIREMENTS = ROOT / "deploy" / "cdk" / "requirements.txt"
ARCHITECTURE = "x86_64"
PLATFORM = "linux/amd64"  # the Docker platform of ARCHITECTURE
STREAM_DIR = "images/stream"
DURABLE_DIR = "examples/durable"


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    # The console script of the environment running the tests (cfn-lint has no `python -m` entry point).
    command = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run([str(command), str(template)], capture_output=True, text=True, timeout=300, check=False)


# ---- the SAM template -------------------------------------------------------------------------------------------


def load_sam(text: str) -> dict[str, Any]:
    template, matches = decode_str(text)
    assert template is not None and not matches, matches
    return dict(template)


def sam_functions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each AWS::Serverless::Function's properties, with the Globals it does not set itself (as SAM applies them)."""
    globals_ = template.get("Globals", {}).get("Function", {})
    return {
        name: {**globals_, **resource.get("Properties", {})}
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def sam_problems(template: Mapping[str, Any]) -> list[str]:
    problems = []
    functions = sam_functions(template)
    stream = functions.get("StreamFunction", {})
    url = stream.get("FunctionUrlConfig", {})
    if url.get("InvokeMode") != "RESPONSE_STREAM" or url.get("AuthType") != "AWS_IAM":
        problems.append(f"StreamFunction's URL is not AWS_IAM + RESPONSE_STREAM: {url}")
    metadata = template["Resources"].get("StreamFunction", {}).get("Metadata", {})
    if stream.get("PackageType") != "Image" or metadata.get("DockerBuildArgs") != {"FUNCTION_DIR": STREAM_DIR}:
        problems.append(f"StreamFunction is not the image of {STREAM_DIR}: {metadata}")
    durable = functions.get("DurableFunction", {})
    durable_metadata = template["Resources"].get("DurableFunction", {}).get("Metadata", {})
    if durable_metadata.get("DockerBuildArgs") != {"FUNCTION_DIR": DURABLE_DIR}:
        problems.append(f"DurableFunction is not the image of {DURABLE_DIR}: {durable_metadata}")
    if not durable.get("DurableConfig", {}).get("ExecutionTimeout"):
        problems.append(f"DurableFunction has no DurableConfig.ExecutionTimeout: {durable.get('DurableConfig')}")
    if "AWSLambdaBasicDurableExecutionRolePolicy" not in durable.get("Policies", []):
        problems.append(f"DurableFunction cannot checkpoint (no AWSLambdaBasicDurableExecutionRolePolicy): {durable}")
    for name, properties in functions.items():
        # sam build builds an image for the platform of its function's Architectures: one pin for both.
        if properties.get("Architectures") != [ARCHITECTURE]:
            problems.append(f"{name}: Architectures {properties.get('Architectures')}, not [{ARCHITECTURE}]")
        if properties.get("SnapStart", {}).get("ApplyOn", "None") != "None":
            problems.append(f"{name}: SnapStart {properties['SnapStart']}")
    return problems


def test_the_sam_template_passes_cfn_lint() -> None:
    done = cfn_lint(SAM_TEMPLATE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_fails_a_broken_copy(tmp_path: Path) -> None:
    """The control of the test above: a misspelt property of the function is reported."""
    broken = tmp_path / "template.yaml"
    broken.write_text(SAM_TEMPLATE.read_text().replace("Handler: app.handler", "Handlr: app.handler"))
    done = cfn_lint(broken)
    assert done.returncode != 0 and "'Handlr' was unexpected" in done.stdout


def test_the_sam_template_streams_pins_x86_64_and_leaves_snapstart_off() -> None:
    assert sam_problems(load_sam(SAM_TEMPLATE.read_text())) == []
    assert (ROOT / STREAM_DIR / "app.py").is_file() and (ROOT / DURABLE_DIR / "app.py").is_file()


# Copies of the SAM template broken on purpose, each with the problem the check must report. cfn-lint passes them all
# (an unknown InvokeMode value included): these properties are checked here or nowhere.
SAM_BREAKAGES = {
    "buffered": (("InvokeMode: RESPONSE_STREAM", "InvokeMode: BUFFERED"), "RESPONSE_STREAM"),
    "misspelt invoke mode": (("InvokeMode: RESPONSE_STREAM", "InvokeMode: RESPONSE_STREAMING"), "RESPONSE_STREAM"),
    "another folder": (("FUNCTION_DIR: images/stream", "FUNCTION_DIR: images/hello"), "not the image"),
    "arm64": (("      - x86_64\n\nResources", "      - arm64\n\nResources"), "Architectures ['arm64']"),
    "no pin": (("    Architectures:\n      - x86_64\n\nResources", "\nResources"), "Architectures None"),
    "snapstart": (("# SnapStart:\n      #   ApplyOn", "SnapStart:\n        ApplyOn"), "HelloFunction: SnapStart"),
    "not durable": (("        ExecutionTimeout: 3600\n", ""), "no DurableConfig"),
    "no checkpoint policy": (
        ("- AWSLambdaBasicDurableExecutionRolePolicy", "- AWSLambdaBasicExecutionRole"),
        "cannot checkpoint",
    ),
    "durable folder": (("FUNCTION_DIR: examples/durable", "FUNCTION_DIR: images/hello"), "DurableFunction is not"),
}


@pytest.mark.parametrize("breakage", SAM_BREAKAGES)
def test_the_sam_checks_fail_a_broken_copy(breakage: str) -> None:
    (old, new), expected = SAM_BREAKAGES[breakage]
    text = SAM_TEMPLATE.read_text()
    assert text.count(old) == 1, f"{old!r} is no longer in the template: update this control"
    problems = sam_problems(load_sam(text.replace(old, new)))
    assert any(expected in problem for problem in problems), problems


# ---- the CDK app ------------------------------------------------------------------------------------------------


@dataclass
class Synthesized:
    path: Path  # the template's file
    template: dict[str, Any]
    docker_images: dict[str, Any]  # the image assets (cdk.out's assets.json)

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.template["Resources"].items() if r["Type"] == kind}


def cdk_problems(synthesized: Synthesized) -> list[str]:
    problems = []
    functions = synthesized.resources("AWS::Lambda::Function")
    urls = {url["Properties"]["TargetFunctionArn"]["Fn::GetAtt"][0]: url["Properties"]
            for url in synthesized.resources("AWS::Lambda::Url").values()}  # fmt: skip
    [stream] = [name for name in functions if name.startswith("StreamFunction")]
    if urls.get(stream, {}).get("InvokeMode") != "RESPONSE_STREAM" or urls[stream].get("AuthType") != "AWS_IAM":
        problems.append(f"StreamFunction's URL is not AWS_IAM + RESPONSE_STREAM: {urls.get(stream)}")
    for name, function in functions.items():
        properties = function["Properties"]
        if properties.get("Architectures") != [ARCHITECTURE]:
            problems.append(f"{name}: Architectures {properties.get('Architectures')}, not [{ARCHITECTURE}]")
        if properties.get("SnapStart", {}).get("ApplyOn", "None") != "None":
            problems.append(f"{name}: SnapStart {properties['SnapStart']}")
    sources = [asset["source"] for asset in synthesized.docker_images.values()]
    folders = sorted(str(source.get("dockerBuildArgs", {}).get("FUNCTION_DIR")) for source in sources)
    if folders != [DURABLE_DIR, "images/stream", "images/web"]:
        problems.append(f"the images are not those of images/web, images/stream and {DURABLE_DIR}: {sources}")
    durable = [f["Properties"] for name, f in functions.items() if name.startswith("DurableFunction")]
    if not durable or not durable[0].get("DurableConfig", {}).get("ExecutionTimeout"):
        problems.append(f"DurableFunction has no DurableConfig.ExecutionTimeout: {durable}")
    roles = synthesized.resources("AWS::IAM::Role")
    durable_roles = [role for name, role in roles.items() if name.startswith("DurableFunction")]
    if "AWSLambdaBasicDurableExecutionRolePolicy" not in json.dumps(durable_roles):
        problems.append("DurableFunction cannot checkpoint (no AWSLambdaBasicDurableExecutionRolePolicy on its role)")
    for source in sources:
        if source.get("platform") != PLATFORM:
            problems.append(f"an image is built for {source.get('platform')}, not {PLATFORM}: {source}")
    return problems


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    if shutil.which("node") is None:
        pytest.skip("the CDK's jsii runtime needs Node.js, not found on PATH")
    tmp_path = tmp_path_factory.mktemp("cdk")
    layer = tmp_path / "layer.zip"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_layer.py"), str(layer)], check=True, timeout=300)
    out = tmp_path / "cdk.out"
    env = {
        **os.environ,
        "CDK_OUTDIR": str(out),
        "AFTER_RESPONSE_LAYER_ZIP": str(layer),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_RELEASE": "1",
    }
    subprocess.run([sys.executable, str(ROOT / "deploy" / "cdk" / "app.py")], env=env, check=True, timeout=600)
    path = out / "AfterResponseRuntime.template.json"
    assets = json.loads((out / "AfterResponseRuntime.assets.json").read_text())
    yield Synthesized(path, json.loads(path.read_text()), assets["dockerImages"])


def test_the_cdk_app_synthesizes_all_functions(synthesized: Synthesized) -> None:
    functions = [r["Properties"] for r in synthesized.resources("AWS::Lambda::Function").values()]
    images = [f for f in functions if f.get("PackageType") == "Image"]
    [zipped] = [f for f in functions if f.get("Runtime") == "python3.14"]
    assert len(images) == 3 and all(image["MemorySize"] == 512 for image in images)
    assert zipped["Handler"] == "app.handler"
    assert zipped["Environment"]["Variables"] == {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/after-response"}
    assert len(zipped["Layers"]) == 1
    [layer_version] = [r["Properties"] for r in synthesized.resources("AWS::Lambda::LayerVersion").values()]
    assert layer_version["CompatibleRuntimes"] == ["python3.12", "python3.13", "python3.14"]
    assert len(synthesized.resources("AWS::Lambda::Url")) == 2
    [alias] = [r["Properties"] for r in synthesized.resources("AWS::Lambda::Alias").values()]
    assert alias["Name"] == "live"  # as the SAM template's AutoPublishAlias
    # The images are built from the repository root with the function folder as a build argument.
    for asset in synthesized.docker_images.values():
        assert asset["source"]["dockerFile"] == "Dockerfile"
    # No errors (exit status bit 2). The CDK's own output draws warnings (W3005: a DependsOn that a GetAtt already
    # implies), which are the CDK's, not this app's.
    done = cfn_lint(synthesized.path)
    assert done.returncode & 2 == 0, done.stdout + done.stderr


def test_the_cdk_app_streams_pins_x86_64_and_leaves_snapstart_off(synthesized: Synthesized) -> None:
    assert cdk_problems(synthesized) == []


def _break_stream_url(s: Synthesized) -> None:
    [url] = [u for u in s.resources("AWS::Lambda::Url").values() if "InvokeMode" in u["Properties"]]
    url["Properties"]["InvokeMode"] = "BUFFERED"


def _break_architecture(s: Synthesized) -> None:
    next(iter(s.resources("AWS::Lambda::Function").values()))["Properties"]["Architectures"] = ["arm64"]


def _break_platform(s: Synthesized) -> None:
    next(iter(s.docker_images.values()))["source"]["platform"] = "linux/arm64"


def _unpin_platform(s: Synthesized) -> None:
    del next(iter(s.docker_images.values()))["source"]["platform"]


def _turn_snapstart_on(s: Synthesized) -> None:
    [hello] = [f for name, f in s.resources("AWS::Lambda::Function").items() if name.startswith("HelloFunction")]
    hello["Properties"]["SnapStart"] = {"ApplyOn": "PublishedVersions"}


def _not_durable(s: Synthesized) -> None:
    [durable] = [f for name, f in s.resources("AWS::Lambda::Function").items() if name.startswith("DurableFunction")]
    del durable["Properties"]["DurableConfig"]


CDK_BREAKAGES = {
    "not durable": (_not_durable, "no DurableConfig"),
    "buffered": (_break_stream_url, "RESPONSE_STREAM"),
    "arm64": (_break_architecture, "Architectures ['arm64']"),
    "arm64 image": (_break_platform, "built for linux/arm64"),
    "unpinned image": (_unpin_platform, "built for None"),
    "snapstart": (_turn_snapstart_on, "SnapStart"),
}


@pytest.mark.parametrize("breakage", CDK_BREAKAGES)
def test_the_cdk_checks_fail_a_broken_copy(synthesized: Synthesized, breakage: str) -> None:
    breaks, expected = CDK_BREAKAGES[breakage]
    broken = copy.deepcopy(synthesized)
    breaks(broken)
    problems = cdk_problems(broken)
    assert any(expected in problem for problem in problems), problems


def test_the_cdk_requirements_match_the_dev_pins() -> None:
    """deploy/cdk/requirements.txt installs the CDK in the ranges that the checks above run with (pyproject's dev)."""
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    pins = {re.split(r"[<>=!~ ]", spec, maxsplit=1)[0]: spec.replace(" ", "") for spec in dev}
    lines = [line.strip() for line in CDK_REQUIREMENTS.read_text().splitlines()]
    requirements = [line.replace(" ", "") for line in lines if line and not line.startswith("#")]
    assert sorted(requirements) == sorted(pins[name] for name in ("aws-cdk-lib", "constructs"))
