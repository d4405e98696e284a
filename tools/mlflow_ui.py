"""Open a finished run in the real MLflow UI (headless Chromium): report what it shows, write screenshots.

    python tools/mlflow_ui.py [--backend-store-uri sqlite:///mlflow.db] [--run-id ID] [--out docs/img]

Starts ``mlflow server`` on 127.0.0.1 over the store (``mlpose.stack.TrackingServer``), drives
Debian's ``chromium`` (``apt-get install chromium``) with Playwright's Python package (no browser
download) and prints, as JSON, what the run page shows:

- ``datasets``: ``[name, digest]`` in the Overview's Datasets box and ``runs_table_datasets``:
  the dataset names in the experiment's runs table (its Datasets column);
- ``logged_models``: the names in the Overview's "Logged models" table;
- ``system_charts``: the titles of the charts the "System metrics" tab draws (its first rows),
  ``system_metric_count``: the number its "System metrics" section header gives;
- ``images``: ``{key: last step shown}`` for each step-image key (``coco/samples``,
  ``coco/failures``): the "Model metrics" tab's image chart of that key, set to its last step,
  displays a loaded picture (a key whose picture does not load is left out).

With ``--out`` it writes the screenshots the README shows: the image chart of each key enlarged
(``step_images.png`` for ``*/samples``, ``failure_gallery.png`` for ``*/failures``), and
``overview.png`` and ``system_metrics.png``. The default run is the newest run of the store
with step images, else the newest run.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
SHOT_NAMES = {"samples": "step_images.png", "failures": "failure_gallery.png"}
MAX_PNG_BYTES = 300_000
SHOT_VIEWPORT = {"width": 640, "height": 500}
WAIT_MS = 60_000  # generous: on 2 busy cores the UI takes tens of seconds to fill in


def image_keys(client, run_id: str) -> dict[str, int]:
    """``{key: last step}`` of the run's step images (``mlflow.log_image(key=..., step=...)``),
    read from the artifact names MLflow gives them (``images/<key, / as ~>+step+<N>+...``)."""
    keys: dict[str, int] = {}
    for item in client.list_artifacts(run_id, "images"):
        match = re.match(r"(.+)\+step\+(\d+)\+", os.path.basename(item.path))
        if match:
            key = match.group(1).replace("~", "/")
            keys[key] = max(keys.get(key, -1), int(match.group(2)))
    return keys


def inspect_run(page, base_url: str, experiment_id: str, run_id: str, keys: dict[str, int],
                out: Path | None = None) -> dict:
    """Visit the run's pages in ``page`` (a Playwright page) and return what they show (see
    the module docstring); with ``out``, write the screenshots there."""
    run_url = f"{base_url}/#/experiments/{experiment_id}/runs/{run_id}"
    found: dict = {}
    page.goto(run_url)
    page.get_by_text(re.compile(r"Logged models \(\d+\)")).first.wait_for(timeout=WAIT_MS)
    page.get_by_text(re.compile(r"^Datasets$")).first.wait_for(timeout=WAIT_MS)
    _close_assistant(page)
    page.wait_for_timeout(1500)  # the boxes fill in one by one
    text = page.inner_text("body")
    found["datasets"] = [list(m) for m in re.findall(r"([\w.-]+/(?:train|val|test)) \(([0-9a-f]+)\)", text)]
    models = re.search(r"Logged models \((\d+)\)(.*?)(About this run|$)", text, re.S)
    found["logged_models"] = _model_names(models.group(2)) if models else []
    if out:
        _save(page.screenshot(full_page=False), out / "overview.png")

    page.goto(f"{run_url}/system-metrics")
    page.locator("h4[title^='system/'], h4[title*='utilization']").first.wait_for(timeout=WAIT_MS)
    found["system_charts"] = sorted(set(page.locator("h4[title]").evaluate_all(
        "els => els.map(e => e.getAttribute('title'))")) - set(keys))  # the charts drawn (the first rows)
    count = re.search(r"System metrics\s*\((\d+)\)", page.inner_text("body"))
    found["system_metric_count"] = int(count.group(1)) if count else 0
    if out:
        _save(page.screenshot(full_page=False), out / "system_metrics.png")

    found["images"] = {}
    for key, step in keys.items():
        if _show_image(page, f"{run_url}/model-metrics", key, step, out):
            found["images"][key] = step

    page.goto(f"{base_url}/#/experiments/{experiment_id}/runs")
    page.get_by_text("Datasets", exact=True).first.wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(1500)
    found["runs_table_datasets"] = sorted(set(re.findall(r"[\w.-]+/(?:train|val|test)\b", page.inner_text("body"))))
    return found


def _model_names(section: str) -> list[str]:
    """Model names in the text of the "Logged models" table (rows: step, colour, name, status)."""
    lines = [s.strip() for s in section.splitlines() if s.strip()]
    return [lines[i + 1] for i, line in enumerate(lines[:-1]) if re.fullmatch(r"#[0-9a-fA-F]{6}", line)]


def _close_assistant(page) -> None:
    """Close the MLflow Assistant side panel if it is open (it hides half of the page)."""
    close = page.get_by_role("button", name="Close")
    if close.count():
        close.first.click()
        page.wait_for_timeout(300)


def _show_image(page, url: str, key: str, step: int, out: Path | None) -> bool:
    """Set the image chart of ``key`` to ``step`` (without the run's parameter list, which fills
    the card); True when its picture loads. With ``out``, screenshot the enlarged chart."""
    page.goto(url)
    search = page.get_by_placeholder("Search metric charts")
    search.wait_for(timeout=WAIT_MS)
    _close_assistant(page)
    search.fill(key)
    card = page.locator("[data-testid=experiment-view-compare-runs-card]").filter(
        has=page.locator(f"h4[title='{key}']"))
    card.first.wait_for(timeout=WAIT_MS)
    card.first.locator("[data-testid=experiment-view-compare-runs-card-menu]").click()
    page.get_by_role("menuitem", name="Configure").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[type=number]").wait_for(timeout=WAIT_MS)
    switch = dialog.get_by_role("switch")
    if switch.count() and switch.first.get_attribute("aria-checked") == "true":
        switch.first.click()  # "Show run parameters" off
    number = dialog.locator("input[type=number]")
    if number.is_enabled():  # disabled when the key has one step only: that step is shown
        number.fill(str(step))
        number.press("Tab")
    loaded = _image_loaded(page, dialog)
    dialog.get_by_role("button", name="Save changes").click()
    if loaded and out:  # the enlarged chart in a small window: the picture is drawn at about 260 px
        size = page.viewport_size
        card.first.locator("button[data-component-id=fullscreen_button_chartcard]").click()
        page.set_viewport_size(SHOT_VIEWPORT)
        full = page.get_by_role("dialog")
        _image_loaded(page, full)
        page.wait_for_timeout(500)  # the dialog follows the new window size
        name = SHOT_NAMES.get(key.rsplit("/", 1)[-1], key.replace("/", "_") + ".png")
        _save(full.first.screenshot(), out / name)
        page.keyboard.press("Escape")
        page.set_viewport_size(size)
    return loaded


def _image_loaded(page, scope) -> bool:
    """Whether an artifact picture (not an empty-state icon) in ``scope`` finishes loading."""
    img = scope.locator("img[src*='get-artifact'], img[src*='artifacts']")
    try:
        img.first.wait_for(timeout=WAIT_MS)
        page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.first.element_handle(),
                               timeout=WAIT_MS)
    except Exception:  # noqa: BLE001 - Playwright's TimeoutError: the picture did not show
        return False
    return True


def _save(png: bytes, path: Path) -> None:
    """Write a screenshot, halved until it is under MAX_PNG_BYTES (README pictures stay small)."""
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    while len(png) > MAX_PNG_BYTES:
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        img = cv2.resize(img, (img.shape[1] * 3 // 4, img.shape[0] * 3 // 4), interpolation=cv2.INTER_AREA)
        png = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()
    path.write_bytes(png)


def browse(backend_uri: str, run_id: str | None = None, out: str | None = None) -> dict:
    """Start a server over ``backend_uri``, inspect ``run_id`` (see :func:`inspect_run`) in
    headless Chromium, stop the server; returns the findings plus ``run_id``."""
    from mlflow import MlflowClient
    from playwright.sync_api import sync_playwright

    from mlpose.stack import TrackingServer

    client = MlflowClient(backend_uri)
    run = client.get_run(run_id) if run_id else _default_run(client)
    keys = image_keys(client, run.info.run_id)
    with tempfile.TemporaryDirectory(prefix="mlpose-ui-") as tmp, TrackingServer(backend_uri, tmp) as server:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                found = inspect_run(page, server.url, run.info.experiment_id, run.info.run_id, keys,
                                    Path(out) if out else None)
            finally:
                browser.close()
    return {"run_id": run.info.run_id, **found}


def _default_run(client):
    from mlflow.entities import ViewType

    exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    runs = client.search_runs(exps, order_by=["attributes.start_time DESC"], max_results=50)
    if not runs:
        raise SystemExit("no runs in this store: train one first (make demo)")
    return next((r for r in runs if r.data.tags.get("mlflow.loggedImages")), runs[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend-store-uri", default=os.environ.get("MLFLOW_TRACKING_URI")
                        or f"sqlite:///{os.path.abspath('mlflow.db')}")
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--out", default=None, help="folder for the screenshots (e.g. docs/img)")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} not found: apt-get install chromium (make test installs it as root)", file=sys.stderr)
        return 2
    print(json.dumps(browse(args.backend_store_uri, args.run_id, args.out), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
