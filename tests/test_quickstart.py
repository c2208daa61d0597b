"""`make run` on a fresh data folder serves the demo and prints how to sign in."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx2 as httpx
import pytest
from bs4 import BeautifulSoup

from tests.conftest import free_port, start_server


@pytest.mark.slow
def test_make_run_serves_the_demo_with_printed_sign_ins(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make is not None, "make is part of the quick start"
    port = free_port()
    server = start_server(
        tmp_path / "data",
        command=[make, "--no-print-directory", "run", f"PORT={port}"],
        port=port,
    )
    try:
        assert server.base_url.endswith(str(port))
        sign_in_page = httpx.get(server.base_url + "/sign-in")
        assert sign_in_page.status_code == 200
        form = BeautifulSoup(sign_in_page.text, "html.parser").select_one(
            "form input[name=username]"
        )
        assert form is not None

        output = server.output()
        assert f"http://127.0.0.1:{port}" in output
        printed = dict(re.findall(r"^\s+(lead|alice|bob|admin)\s+(\S+)\s+\(", output, flags=re.M))
        kept = {
            s["username"]: s["password"]
            for s in json.loads((tmp_path / "data" / "demo_sign_ins.json").read_text())
        }
        assert printed == kept
        assert set(printed) == {"lead", "alice", "bob", "admin"}

        with httpx.Client(base_url=server.base_url) as browser:
            token = re.search(r'name="csrftoken" value="([^"]+)"', browser.get("/sign-in").text)
            assert token is not None
            response = browser.post(
                "/sign-in",
                data={
                    "username": "lead",
                    "password": printed["lead"],
                    "csrftoken": token.group(1),
                    "next": "/",
                },
            )
            assert response.status_code == 303
            projects = BeautifulSoup(browser.get("/").text, "html.parser")
            names = [a.get_text(strip=True) for a in projects.select(".project-link")]
            assert names == ["Handwritten digits (demo)"]
    finally:
        server.stop()
