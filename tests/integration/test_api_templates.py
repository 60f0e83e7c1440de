"""The template library over the REST API on every engine: saving checks the file first and
makes a version only on change, reads back any version, and errors carry the CLI's messages."""

from __future__ import annotations

from pathlib import Path

from tests.integration.api_fixtures import Api, api, workspace_root

__all__ = ["api", "workspace_root"]  # fixtures

EXAMPLE = Path(__file__).parents[2] / "examples" / "templates" / "checkin_premium.yaml"


def test_save_versions_and_read_back(api: Api) -> None:
    text = EXAMPLE.read_text()
    yaml_type = {"Content-Type": "application/yaml"}
    put = "/templates/checkin_premium"
    assert api.call("PUT", put, content=text, headers=yaml_type, role="viewer").status_code == 403
    first = api.ok("PUT", put, 201, content=text, headers=yaml_type, role="editor")
    assert (first["version"], first["channel"], first["new_version"]) == (1, "email", True)
    same = api.ok("PUT", put, 200, content=text, headers=yaml_type, role="editor")
    assert (same["version"], same["new_version"]) == (1, False)
    changed = text.replace("Dear", "Hello")
    assert (
        api.ok("PUT", put, 201, content=changed, headers=yaml_type, role="editor")["version"] == 2
    )

    [listed] = api.ok("GET", "/templates", role="viewer")
    assert (listed["name"], listed["version"]) == ("checkin_premium", 2)
    first_body = api.ok("GET", f"{put}?version=1", role="viewer")["parts"]["body"]
    assert first_body.startswith("<p>Dear {{ recipient.first_name }}")


def test_errors_name_the_line_and_the_nearest_names(api: Api) -> None:
    bad = api.call(
        "PUT",
        "/templates/short",
        content="name: short\nchannel: sms\nbody: 'Hi {{ recipient.frist_name }}'\n",
        role="editor",
    )
    assert bad.status_code == 422
    [problem] = bad.json()["problems"]
    assert problem["line"] == 3 and "did you mean 'first_name'" in problem["message"]
    other = api.call("PUT", "/templates/long", content=EXAMPLE.read_text(), role="editor")
    assert other.status_code == 422
    assert other.json()["error"] == "the body defines template 'checkin_premium', not 'long'"
    missing = api.call("GET", "/templates/checkin", role="viewer")
    assert missing.status_code == 404 and "no template 'checkin'" in missing.json()["error"]


def test_odd_files_are_template_problems(api: Api) -> None:
    # Found by fuzzing: a list as the channel was a TypeError (a 500), and broken YAML was
    # reported as a problem "in the campaign".
    listed = api.call("PUT", "/templates/t", content="name: t\nchannel: [email]\n", role="editor")
    assert listed.status_code == 422, listed.text
    assert listed.json()["problems"][0]["path"] == "channel"
    broken = api.call("PUT", "/templates/t", content="name: [\n", role="editor")
    assert broken.status_code == 422
    assert broken.json()["error"].startswith("1 problem in the template:\n  body:2: (template): ")
    assert "not valid YAML" in broken.json()["error"]
