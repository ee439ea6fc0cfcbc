"""Open every page of the built site in headless Chromium and fail on what a reader would see broken.

    python docs/check_site.py [docs/_build/html]

Fails (exit 1, one line per problem) on:

- a page that does not load (no HTTP 200, a browser error page, or no main content);
- a console error on any page (a script that throws, a resource that fails to load, ...);
- an image that does not load (every ``<img>``, lazy ones included, after it was asked to load);
- math that MathJax did not typeset;
- a tutorial page with fewer figures than its tutorial saves (``savefig(`` in tutorials/NN_name.py),
  without its two download links (the .py and the .ipynb), or a tutorial without a page;
- a download link that does not load.

and saves screenshots of the home page and of the first tutorial page with a figure under
``docs/_build/screenshots/`` (not committed).

The pages are served by Python's ``http.server`` on 127.0.0.1 (as a web host would serve them, so
``file://`` restrictions do not hide or cause problems) and driven with Selenium through the
``chromedriver`` of Debian's ``chromium-driver`` package: that driver always matches Debian's
``chromium`` (one ``apt-get install chromium chromium-driver``), Selenium is a pure-Python wheel, and it
reads Chromium's console log directly. Nothing is downloaded at run time (Selenium Manager is never
asked: the driver's path is given), which Playwright's browser builds would need.
"""

import argparse
import functools
import http.server
import re
import shutil
import sys
import threading
import time
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
SKIP_DIRS = {"_static", "_sources", "_downloads", "_images", "jupyter_execute", "reports"}


def pages(root):
    """Every HTML page of the site, relative to its root."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html")
                  if not SKIP_DIRS.intersection(p.relative_to(root).parts))


def serve(root):
    """An HTTP server for ``root`` on a free local port, in a daemon thread; returns (server, base URL)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # one line per request would bury the report
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        sys.exit("check_site: chromium and chromedriver are needed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    return drv


# Ask every image to load now (lazy ones too), then wait for each to load or fail: [src, ok] pairs.
IMAGES_JS = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(img => { img.loading = "eager"; });
Promise.all(images.map(img => img.decode().then(() => true, () => img.complete && img.naturalWidth > 0)))
  .then(oks => done(images.map((img, k) => [img.currentSrc || img.src, oks[k] && img.naturalWidth > 0,
                                            img.closest(".cell_output") !== null])));
"""

# Wait (up to 20 s) for MathJax to typeset the page's math: [math elements, typeset elements].
MATH_JS = """
const done = arguments[arguments.length - 1];
const count = () => [document.querySelectorAll("div.math, span.math").length,
                     document.querySelectorAll("mjx-container").length];
const deadline = Date.now() + 20000;
const wait = () => {
  if (!document.querySelector("div.math, span.math") || Date.now() > deadline) { done(count()); }
  else if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done(count()), () => done(count()));
  } else { setTimeout(wait, 50); }
};
wait();
"""


def check_page(drv, base, page, problems):
    """Load one page and record what is wrong with it; returns its images."""
    drv.get(base + page)
    if drv.current_url.startswith("chrome-error://") or not drv.execute_script(
            "return document.readyState === 'complete' && document.querySelector('main, article') !== null"):
        problems.append(f"{page}: did not load")
        return [], []
    images = drv.execute_async_script(IMAGES_JS)
    for src, ok, _ in images:
        if not ok:
            problems.append(f"{page}: image did not load: {src}")
    math, typeset = drv.execute_async_script(MATH_JS)
    if math and typeset < math:
        problems.append(f"{page}: MathJax typeset {typeset} of {math} formulas")
    for entry in drv.get_log("browser"):
        if entry["level"] == "SEVERE":
            problems.append(f"{page}: console error: {entry['message']}")
    downloads = drv.execute_script("return Array.from(document.querySelectorAll('a.download')).map(a => a.href)")
    for href in downloads:
        try:
            with urllib.request.urlopen(href, timeout=30) as response:
                response.read()
        except OSError as exc:  # urllib's HTTPError and URLError are OSErrors
            problems.append(f"{page}: download link {href} does not load: {exc}")
    return images, downloads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", default=str(DOCS / "_build" / "html"), help="the built HTML")
    parser.add_argument("--screenshots", default=str(DOCS / "_build" / "screenshots"))
    args = parser.parse_args()
    root = Path(args.site).resolve()
    if not (root / "index.html").exists():
        sys.exit(f"check_site: no built site in {root} (python -m sphinx -W -b html docs docs/_build/html)")
    shots = Path(args.screenshots)
    shots.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    server, base = serve(root)
    drv = browser()
    problems = []
    all_pages = pages(root)
    tutorial_shot = None
    try:
        for page in all_pages:
            images, downloads = check_page(drv, base, page, problems)
            match = re.fullmatch(r"tutorials/(\d\d_\w+)\.html", page)
            if match and (REPO / "tutorials" / f"{match[1]}.py").exists():
                for suffix in (".py", ".ipynb"):
                    if not any(href.endswith(f"/{match[1]}{suffix}") for href in downloads):
                        problems.append(f"{page}: no download link to {match[1]}{suffix}")
                saved = (REPO / "tutorials" / f"{match[1]}.py").read_text(encoding="utf-8").count("savefig(")
                shown = sum(ok and in_output for _, ok, in_output in images)
                if shown < saved:
                    problems.append(f"{page}: {shown} figure(s) in the cell outputs, but the tutorial saves {saved}")
                if saved and tutorial_shot is None:
                    tutorial_shot = page
        for path in sorted((REPO / "tutorials").glob("[0-9][0-9]_*.py")):
            if f"tutorials/{path.stem}.html" not in all_pages:
                problems.append(f"tutorials/{path.name} has no page (tutorials/{path.stem}.html)")

        drv.get(base + "index.html")
        drv.save_screenshot(str(shots / "home.png"))
        if tutorial_shot:
            drv.get(base + tutorial_shot)
            drv.execute_script("const f = document.querySelector('.cell_output img');"
                               "if (f) f.scrollIntoView({block: 'center'});")
            time.sleep(0.3)
            drv.save_screenshot(str(shots / "tutorial.png"))
    finally:
        drv.quit()
        server.shutdown()

    seconds = time.perf_counter() - start
    for problem in problems:
        print(f"check_site: {problem}", file=sys.stderr)
    print(f"check_site: {len(all_pages)} pages opened in headless Chromium in {seconds:.1f} s, "
          f"{len(problems)} problem(s); screenshots in {shots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
