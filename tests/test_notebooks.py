"""The python snippets of docs/notebooks.md, run in order against a live demo server."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from app.config import PROJECT_ROOT
from app.domain.imports.demo import DEMO_CAUSES, DEMO_DIR, DEMO_PROJECT, DEMO_RUNS, read_sign_ins
from tests.conftest import DemoData, LiveServer, start_server

DOC = PROJECT_ROOT / "docs" / "notebooks.md"
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


@pytest.mark.slow
def test_the_notebook_snippets_run_against_a_live_server(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = next(s for s in read_sign_ins(server.data_dir) if s.username == "lead")
    issued = httpx2.post(
        f"{server.base_url}/api/v1/auth/token",
        json={"username": lead.username, "password": lead.password, "name": "notebook test"},
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    projects = httpx2.get(
        f"{server.base_url}/api/v1/projects", headers={"Authorization": f"Bearer {token}"}
    ).json()
    project_id = next(p["id"] for p in projects if p["name"] == DEMO_PROJECT)
    annotate(server.base_url, token, project_id, count=30)

    # The guide reads these from the environment, as a notebook should.
    monkeypatch.setenv("EYEBALL_URL", server.base_url)
    monkeypatch.setenv("EYEBALL_TOKEN", token)
    monkeypatch.setenv("EYEBALL_PROJECT", str(project_id))
    monkeypatch.chdir(PROJECT_ROOT)  # the push example reads the demo's files
    if importlib.util.find_spec("httpx") is None:
        # The project's test client is httpx2, the maintained fork with the same API;
        # the guide says `import httpx`, as most notebooks have it.
        monkeypatch.setitem(sys.modules, "httpx", httpx2)

    namespace: dict[str, Any] = {
        "BASE": server.base_url,
        "TOKEN": token,
        "PROJECT_ID": project_id,
    }
    try:
        for number, code in enumerate(snippets(), start=1):
            exec(compile(code, f"{DOC.name}, python block {number}", "exec"), namespace)  # noqa: S102
    finally:
        if "api" in namespace:
            namespace["api"].close()

    # What the reader of the guide would see.
    assert len(namespace["annotations"]) == 30
    consensus = namespace["consensus"]
    # `latest` is the demo's newest version: every one of its errors, examined or not.
    newest = json.loads((DEMO_DIR / DEMO_RUNS[-1][1]).read_text(encoding="utf-8"))
    assert len(consensus) == newest["errors"]
    assert consensus["causes"].map(len).sum() == 30  # the 30 examined ones, one cause each
    assert {"cause", "share", "ceiling_points"} <= set(namespace["causes"].columns)
    assert namespace["causes"]["count"].sum() == 30  # one cause per reviewed error
    pushed = namespace["response"]
    assert pushed.status_code == 201
    assert (pushed.json()["run"], pushed.json()["errors"]) == ("logreg-v2", 74)
    assert pushed.json()["error_rate"] == pytest.approx(0.074)
    changes = namespace["changes"]
    assert len(changes) > 0
    assert {"a.share", "b.share", "difference"} <= set(changes.columns)
    assert len(namespace["page"]["errors"]) == 5
    assert namespace["saved"].status_code == 200
    assert namespace["saved"].json()["version"] == 1
