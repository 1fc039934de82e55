"""Import Kashif's Label Studio pre-annotations into a running Label Studio,
check what it accepted, screenshot one task in its labeling UI, and
optionally save its JSON export (for `kashif train/evaluate --format label-studio`).

How docs/label_studio.png was made (Label Studio 1.23.2 in its own venv; no
internet needed, nothing phones home):

    kashif score docs.jsonl --id-field id --output tasks.json --output-format label-studio
    export LATEST_VERSION_CHECK=false COLLECT_ANALYTICS=false SENTRY_DSN= FRONTEND_SENTRY_DSN=
    timeout 1800 label-studio start --no-browser --internal-host 127.0.0.1 --port 8080 \\
        --data-dir /tmp/ls-data --username me@example.com --password secret-pass \\
        --user-token some-long-token --enable-legacy-api-token &
    python docs/label_studio_screenshot.py --url http://127.0.0.1:8080 --token some-long-token \\
        --email me@example.com --password secret-pass --tasks tasks.json \\
        --screenshot docs/label_studio.png --export export.json

It needs `requests` and `playwright` (pip; no `playwright install`: it drives
an installed Chromium, --chromium). Pages from any host but Label Studio's are
blocked. Prints one JSON summary; exits 1 if Label Studio did not take every
task with its prediction and regions.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def api(session: requests.Session, base: str, method: str, path: str, **kw) -> requests.Response:
    r = session.request(method, f"{base}/api/{path}", timeout=120, **kw)
    if r.status_code >= 400:
        sys.exit(f"Label Studio {method} /api/{path}: {r.status_code} {r.text[:500]}")
    return r


def import_tasks(session: requests.Session, base: str, tasks_path: Path, config_path: Path, title: str) -> dict:
    sent = json.loads(tasks_path.read_text(encoding="utf-8"))
    project = api(session, base, "POST", "projects", json={"title": title, "label_config": config_path.read_text(encoding="utf-8")}).json()
    with tasks_path.open("rb") as handle:
        imported = api(session, base, "POST", f"projects/{project['id']}/import", files={"file": (tasks_path.name, handle, "application/json")}).json()
    listed = api(session, base, "GET", "tasks", params={"project": project["id"], "page_size": len(sent) + 10, "fields": "all"}).json()
    listed = listed["tasks"] if isinstance(listed, dict) else listed
    by_id = {t["data"].get("kashif_id"): t for t in listed}
    tasks = []
    for s in sent:
        got = by_id.get(s["data"].get("kashif_id"), {})
        tasks.append({
            "kashif_id": s["data"].get("kashif_id"), "task": got.get("id"),
            "regions_sent": len(s["predictions"][0]["result"]),
            "regions_stored": [len(p["result"]) for p in got.get("predictions") or []],
            "total_predictions": got.get("total_predictions"),
        })
    ok = (imported.get("task_count") == len(sent) and imported.get("prediction_count") == len(sent)
          and all(t["regions_stored"] == [t["regions_sent"]] for t in tasks))
    return {"project": project["id"], "import": imported, "tasks": tasks, "ok": ok}


def screenshot(base: str, email: str, password: str, project: int, task: int, regions: int, out: Path,
               chromium: str, size: tuple[int, int], tries: int = 3) -> int:
    """Log in, open the task, wait for its predicted regions to be highlighted, save a PNG; returns regions shown."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    host = urlsplit(base).netloc
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        page.route("**/*", lambda r: r.continue_() if urlsplit(r.request.url).netloc == host else r.abort())
        page.goto(f"{base}/user/login/")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        shown = 0
        for _ in range(tries):  # a cold first load can open the task before its prediction arrives
            page.goto(f"{base}/projects/{project}/data?task={task}")
            try:
                page.wait_for_function(f"document.querySelectorAll('.htx-highlight').length >= {regions}", timeout=30_000)
            except PlaywrightTimeout:
                print(f"task {task}: regions not shown yet, reloading", file=sys.stderr)
                continue
            time.sleep(1.5)  # let the region list and fonts settle
            shown = page.locator(".htx-highlight").count()
            break
        page.screenshot(path=str(out))
        browser.close()
    return shown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--token", required=True, help="the user's API token (legacy token auth)")
    ap.add_argument("--email", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--tasks", type=Path, required=True, help="kashif score --output-format label-studio output")
    ap.add_argument("--config", type=Path, help="labeling config (default: TASKS.label-config.xml)")
    ap.add_argument("--title", default="Kashif pre-annotations")
    ap.add_argument("--screenshot", type=Path, help="PNG of one task in the labeling UI")
    ap.add_argument("--task-index", type=int, help="which task to show (default: the one with most predicted regions)")
    ap.add_argument("--size", default="1400x900")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--export", type=Path, help="save the project's JSON export (all tasks) here")
    args = ap.parse_args()
    base = args.url.rstrip("/")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {args.token}"

    summary = import_tasks(session, base, args.tasks, args.config or args.tasks.with_name(args.tasks.name + ".label-config.xml"), args.title)
    if args.screenshot:
        k = args.task_index if args.task_index is not None else max(range(len(summary["tasks"])), key=lambda i: summary["tasks"][i]["regions_sent"])
        shown = summary["tasks"][k]
        width, height = (int(v) for v in args.size.lower().split("x"))
        shown_regions = screenshot(base, args.email, args.password, summary["project"], shown["task"], shown["regions_sent"],
                                   args.screenshot, args.chromium, (width, height))
        summary["screenshot"] = {"task": shown["task"], "kashif_id": shown["kashif_id"], "regions_highlighted": shown_regions, "path": str(args.screenshot)}
        summary["ok"] = summary["ok"] and shown_regions >= shown["regions_sent"]
    if args.export:
        r = api(session, base, "GET", f"projects/{summary['project']}/export", params={"exportType": "JSON", "download_all_tasks": "true"})
        args.export.write_bytes(r.content)
        summary["export"] = {"path": str(args.export), "tasks": len(r.json())}
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    sys.exit(0 if summary["ok"] else 1)


if __name__ == "__main__":
    main()
