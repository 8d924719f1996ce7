"""Data Docs that render with no network (air-gapped clusters, a laptop offline).

GX's pages load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from public CDNs,
and draw the list of validations with those scripts: offline, a data owner sees an empty page.
The same files ship inside this package (`datadocs_assets/`, each with its licence); every page
of a site is rewritten to load them from the site's own `static/vendor/` by relative path, so
a site stays readable when copied, moved or served from anywhere.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from importlib.resources import as_file, files
from pathlib import Path

log = logging.getLogger(__name__)

VENDOR_DIR = "static/vendor"
# What GX 1.x's page templates load -> the shipped copy (same release), under VENDOR_DIR.
CDN_COPIES = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table/bootstrap-table-filter-control-1.19.0.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table/bootstrap-table-filter-control-1.19.0.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker/bootstrap-datepicker.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "bootstrap-dark/bootstrap-prefers-dark.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega/vega-embed.min.js",
}
# GX's logos come from a bucket (with a tracking query string); the site has its own copy.
REMOTE_LOGO = re.compile(
    r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/[A-Za-z_-]+\.png[^'\"\s)]*"
)
LOCAL_LOGO = "static/images/logo-long.png"
# Subresource-integrity and CORS attributes make a browser refuse a file:// copy.
INTEGRITY = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"')
# A reference to the site's static folder at whatever depth GX wrote it (its validation pages
# reach one level too few for the favicon): rewritten to the page's real depth.
STATIC_REFERENCE = re.compile(r"""((?:src|href)=["'])(?:\./|(?:\.\./)+)?static/""")
# A resource a page still loads from the network (links to documentation are fine).
REMOTE_RESOURCE = re.compile(r"""(?:<script[^>]*\bsrc|<link[^>]*\bhref|<img[^>]*\bsrc)=["'](https?://[^"']+)""")


def make_offline(site: Path) -> list[str]:
    """Rewrite every page of the Data Docs site at `site` to load the shipped assets; returns
    the resources that still come from the network (none with the GX release this targets)."""
    site = Path(site)
    vendor = site / VENDOR_DIR
    if not vendor.is_dir():
        with as_file(files("aktrec.validation").joinpath("datadocs_assets")) as assets:
            shutil.copytree(assets, vendor)
    remaining: set[str] = set()
    for page in site.rglob("*.html"):
        text = page.read_text()
        to_site = Path(os.path.relpath(site, page.parent)).as_posix()
        rewritten = STATIC_REFERENCE.sub(rf"\g<1>{to_site}/static/", text)
        for url, copy in CDN_COPIES.items():
            rewritten = rewritten.replace(url, f"{to_site}/{VENDOR_DIR}/{copy}")
        rewritten = REMOTE_LOGO.sub(f"{to_site}/{LOCAL_LOGO}", rewritten)
        rewritten = re.sub(r"<(script|link)\b[^>]*>", lambda tag: INTEGRITY.sub("", tag.group(0)), rewritten)
        if rewritten != text:
            page.write_text(rewritten)
        remaining.update(REMOTE_RESOURCE.findall(rewritten))
    if remaining:
        log.warning("Data Docs at %s still load from the network: %s", site, ", ".join(sorted(remaining)))
    return sorted(remaining)
