"""The python snippets of docs/notebooks.md, and the token page's, run against a live
demo server by a Python that has only what the guide tells its reader to install."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from app.domain.imports.demo import DEMO_CAUSES, DEMO_DIR, DEMO_PROJECT, DEMO_RUNS, read_sign_ins
from tests.checkout import CHECKOUT
from tests.conftest import OUTPUT_DIR, DemoData, LiveServer, start_server, unavailable
from tests.pages import one, soup

DOC = CHECKOUT / "docs" / "notebooks.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def snippets() -> list[str]:
    return PYTHON_BLOCK.findall(DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_data: DemoData) -> Iterator[LiveServer]:
    # A demo server of its own: the snippets push a new run, which the tests sharing
    # the session's demo server do not expect.
    data_dir = demo_data.copy_to(tmp_path_factory.mktemp("notebooks") / "data")
    live = start_server(data_dir, args=["--demo"])
    yield live
    live.stop()


def test_the_guide_has_snippets_for_each_task() -> None:
    code = "\n".join(snippets())
    for call in ("annotations.csv", "consensus=true", "/tally", "/predictions", "/compare"):
        assert call in code


def annotate(base_url: str, token: str, project_id: int, *, count: int) -> None:
    """The lead reviews some of the demo's errors, as a team would in the browser."""
    headers = {"Authorization": f"Bearer {token}"}
    run = f"{base_url}/api/v1/projects/{project_id}/runs/latest"
    errors = httpx2.get(f"{run}/errors", params={"limit": count}, headers=headers).json()
    for number, error in enumerate(errors["errors"]):
        saved = httpx2.put(
            f"{run}/errors/{error['sample_id']}/annotation",
            headers=headers,
            json={
                "causes": [DEMO_CAUSES[number % len(DEMO_CAUSES)][0]],
                "label_error": number % 10 == 0,
                "status": "done",
                "version": 0,
            },
        )
        assert saved.status_code == 200, saved.text


def issue_token(server: LiveServer) -> str:
    lead = next(s for s in read_sign_ins(server.data_dir) if s.username == "lead")
    issued = httpx2.post(
        f"{server.base_url}/api/v1/auth/token",
        json={"username": lead.username, "password": lead.password, "name": "notebook test"},
    )
    assert issued.status_code == 201, issued.text
    return str(issued.json()["token"])


# After the guide's snippets, in the same process: what its reader would see, as JSON.
FINDINGS = """
import json as _json

api.close()
print(_json.dumps({
    "annotations": len(annotations),
    "consensus": len(consensus),
    "consensus_causes": int(consensus["causes"].map(len).sum()),
    "causes_columns": list(causes.columns),
    "causes_count": int(causes["count"].sum()),
    "pushed_status": response.status_code,
    "pushed": response.json(),
    "changes": len(changes),
    "changes_columns": list(changes.columns),
    "page_errors": len(page["errors"]),
    "saved_status": saved.status_code,
    "saved_version": saved.json()["version"],
}))
"""


@pytest.mark.slow
def test_the_notebook_snippets_run_against_a_live_server(
    server: LiveServer, guide_python: Path, tmp_path: Path
) -> None:
    token = issue_token(server)
    headers = {"Authorization": f"Bearer {token}"}
    projects = httpx2.get(f"{server.base_url}/api/v1/projects", headers=headers).json()
    project_id = next(p["id"] for p in projects if p["name"] == DEMO_PROJECT)
    annotate(server.base_url, token, project_id, count=30)

    # One script, the snippets in order, run by a Python that has only what the guide
    # says to install; it reads the server, token and project from the environment, as
    # the guide says a notebook should.
    script = tmp_path / "notebook.py"
    script.write_text("\n".join([*snippets(), FINDINGS]), encoding="utf-8")
    env = {
        **guide_env(),
        "EYEBALL_URL": server.base_url,
        "EYEBALL_TOKEN": token,
        "EYEBALL_PROJECT": str(project_id),
    }
    ran = subprocess.run(
        [str(guide_python), str(script)],
        cwd=CHECKOUT,  # the push example reads the demo's files
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout.strip().splitlines()[-1])

    assert seen["annotations"] == 30
    # `latest` is the demo's newest version: every one of its errors, examined or not.
    newest = json.loads((DEMO_DIR / DEMO_RUNS[-1][1]).read_text(encoding="utf-8"))
    assert seen["consensus"] == newest["errors"]
    assert seen["consensus_causes"] == 30  # the 30 examined ones, one cause each
    assert {"cause", "share", "ceiling_points"} <= set(seen["causes_columns"])
    assert seen["causes_count"] == 30  # one cause per reviewed error
    assert seen["pushed_status"] == 201
    assert (seen["pushed"]["run"], seen["pushed"]["errors"]) == ("logreg-v2", 74)
    assert seen["pushed"]["error_rate"] == pytest.approx(0.074)
    assert seen["changes"] > 0
    assert {"a.share", "b.share", "difference"} <= set(seen["changes_columns"])
    assert seen["page_errors"] == 5
    assert (seen["saved_status"], seen["saved_version"]) == (200, 1)


@pytest.mark.slow
def test_the_token_page_lines_run_as_shown(
    server: LiveServer, guide_python: Path, tmp_path: Path
) -> None:
    lead = next(s for s in read_sign_ins(server.data_dir) if s.username == "lead")
    with httpx2.Client(base_url=server.base_url) as browser:
        form = {"username": lead.username, "password": lead.password, "next": "/"}
        signed_in = browser.post(
            "/sign-in", data={**form, "csrftoken": csrf_of(browser.get("/sign-in").text)}
        )
        assert signed_in.status_code == 303, signed_in.text
        page = browser.post(
            "/account/tokens",
            data={"token_name": "pandas", "csrftoken": csrf_of(browser.get("/account").text)},
        )
    doc = soup(page.text)
    secret, export, snippet = (one(doc, f"#token-{part}") for part in ("secret", "env", "snippet"))
    # The token goes into the environment, not into the code a notebook keeps.
    assert secret.get_text() not in snippet.get_text()

    # Pasted into a terminal, then into a notebook with only pandas installed.
    shell = tmp_path / "pasted.sh"
    shell.write_text(
        f"{export.get_text()}\n{guide_python} - <<'PASTED'\n{snippet.get_text()}\n"
        "print(len(df), list(df.columns)[:2])\nPASTED\n",
        encoding="utf-8",
    )
    ran = subprocess.run(
        ["bash", str(shell)], env=guide_env(), capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    rows, _ = ran.stdout.split(" ", 1)
    assert int(rows) >= 0


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrftoken" value="([^"]+)"', page)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


def guide_env() -> dict[str, str]:
    """The environment of a reader's shell: none of the test's own Eyeball settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("EYEBALL_", "PYTHON"))}


# `pip install ...` lines of the guide's shell blocks: all that a reader installs.
INSTALL = re.compile(r"^pip install (.+)$", re.MULTILINE)
SHELL_BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def guide_packages() -> list[str]:
    blocks = SHELL_BLOCK.findall(DOC.read_text(encoding="utf-8"))
    return [p for block in blocks for line in INSTALL.findall(block) for p in line.split()]


def test_the_guide_says_what_to_install() -> None:
    assert guide_packages() == ["pandas", "httpx"]


@pytest.fixture(scope="session")
def guide_python() -> Path:
    """A Python with only the packages the guide tells its reader to install (and what
    they pull in): not the project's environment, whose packages would hide a missing
    one. Kept between runs under test-output/, keyed by the packages."""
    packages = guide_packages()
    key = hashlib.sha256(" ".join(packages).encode()).hexdigest()[:12]
    root = OUTPUT_DIR / "notebook-env"
    root.mkdir(parents=True, exist_ok=True)
    folder = root / key
    python = folder / "bin" / "python"
    with (root / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers build it once
        if not (folder / "ready").exists():
            shutil.rmtree(folder, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
            installed = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", *packages]
                if packages
                else [str(python), "-c", ""],
                capture_output=True,
                text=True,
                timeout=900,
            )
            if installed.returncode != 0:
                unavailable(f"cannot install the guide's packages: {installed.stderr[-2000:]}")
            (folder / "ready").touch()
    return python
