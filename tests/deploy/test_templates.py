"""The deployment templates (deploy/), validated offline: the SAM template with cfn-lint (the SAM transform
included), the CDK app synthesized (jsii runs on this machine's Node.js) and its template linted too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

SAM_TEMPLATE = ROOT / "deploy" / "sam" / "template.yaml"


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    # The console script of the environment running the tests (cfn-lint has no `python -m` entry point).
    command = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run([str(command), str(template)], capture_output=True, text=True, timeout=300, check=False)


def test_the_sam_template_passes_cfn_lint() -> None:
    done = cfn_lint(SAM_TEMPLATE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_fails_a_broken_copy(tmp_path: Path) -> None:
    """The control of the test above: a misspelt property of the function is reported."""
    broken = tmp_path / "template.yaml"
    broken.write_text(SAM_TEMPLATE.read_text().replace("Handler: app.handler", "Handlr: app.handler"))
    done = cfn_lint(broken)
    assert done.returncode != 0 and "'Handlr' was unexpected" in done.stdout


@pytest.mark.skipif(shutil.which("node") is None, reason="the CDK's jsii runtime needs Node.js, not found on PATH")
def test_the_cdk_app_synthesizes_both_functions(tmp_path: Path) -> None:
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
    template_path = out / "AfterResponseRuntime.template.json"
    resources = json.loads(template_path.read_text())["Resources"]
    functions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    [image] = [f for f in functions if f.get("PackageType") == "Image"]
    [zipped] = [f for f in functions if f.get("Runtime") == "python3.12"]
    assert image["MemorySize"] == 512
    assert zipped["Handler"] == "app.handler"
    assert zipped["Environment"]["Variables"] == {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/after-response"}
    assert len(zipped["Layers"]) == 1
    [layer_version] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    assert layer_version["CompatibleRuntimes"] == ["python3.12", "python3.13"]
    assert any(r["Type"] == "AWS::Lambda::Url" for r in resources.values())
    # The image asset is built from the repository root with the function folder as a build argument.
    assets = json.loads((out / "AfterResponseRuntime.assets.json").read_text())["dockerImages"]
    [source] = [asset["source"] for asset in assets.values()]
    assert source["dockerBuildArgs"] == {"FUNCTION_DIR": "images/web"}
    # No errors (exit status bit 2). The CDK's own output draws warnings (W3005: a DependsOn that a GetAtt already
    # implies), which are the CDK's, not this app's.
    done = cfn_lint(template_path)
    assert done.returncode & 2 == 0, done.stdout + done.stderr
