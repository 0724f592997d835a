"""meshctl dashboard: a one-time login link to the coordinator's web dashboard."""
from __future__ import annotations

import click

from llmesh.cli import render
from llmesh.common.config import ENDPOINT_FILE, check_address, home_from_env, read_endpoint
from llmesh.common.errors import FailedPrecondition
from llmesh.sdk.dashboard import login_link

VIEWS = ("hosts", "models", "jobs", "deployments", "lineage", "events", "audit")


def http_address(flag: str | None, env, coordinator: str) -> str:
    """--http, else the HTTPS address `meshctl up` / `coordinator serve` recorded for this coordinator."""
    if flag:
        return check_address(flag)
    path = home_from_env(env) / ENDPOINT_FILE
    endpoint = read_endpoint(path)
    if endpoint.get("http_address") and endpoint.get("address") == coordinator:
        return endpoint["http_address"]
    raise FailedPrecondition(f"no HTTPS address for the coordinator at {coordinator} in {path}: pass "
                             "--http HOST:PORT (the coordinator's --http-listen address)")


def show_link(result: dict, print_only: bool) -> None:
    click.echo(result["url"])
    if print_only:
        return
    import webbrowser  # only to open a browser: meshctl's start-up need not pay for it

    try:
        opened = webbrowser.open(result["url"])
    except webbrowser.Error:
        opened = False
    if not opened:
        click.echo("(no browser found here: open the link above yourself)", err=True)


@click.command()
@click.option("--print", "print_only", is_flag=True, help="Only print the link; do not open a browser.")
@click.option("--http", "http_flag", default=None, metavar="HOST:PORT",
              help="The coordinator's HTTPS address (default: the one in LLMESH_HOME/coordinator.json).")
@click.option("--view", type=click.Choice(VIEWS), default=None, help="Open this view first.")
@render.output(show_link, json_help="Print {\"url\": …} as JSON (opens no browser).")
@click.pass_obj
def dashboard(obj, print_only, http_flag, view):
    """Print a one-time login link to the web dashboard, and open it in a browser.

    The link logs in once, within two minutes, as the user of your API token; the
    session it opens lives in the coordinator's memory while the browser uses it."""
    with obj.client() as client:
        address = http_address(http_flag, obj.env, client.config.address)
        return {"url": login_link(address, client.config.token, client.ca_pem, obj.timeout, view or "")}
