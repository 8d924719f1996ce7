"""Data Docs and the run report render with no network: GX's CDN scripts are served from the
copies shipped in the package, by relative paths, so a site still lists every validation when
opened offline or after it was moved."""

from __future__ import annotations

import re
import shutil

import great_expectations.expectations as gxe
import pandas as pd

from aktrec.validation.offline import REMOTE_RESOURCE, VENDOR_DIR, make_offline
from aktrec.validation.runner import SuiteSpec, run_suites
from conftest import render_offline

LOCAL_RESOURCE = re.compile(r"""(?:<script[^>]*\bsrc|<link[^>]*\bhref)=["'](?!https?:|data:|#)([^"']+)""")


def build_site(root):
    frame = pd.DataFrame({"x": [1, 2, 3]})
    specs = [
        SuiteSpec("offline.first", frame, [gxe.ExpectColumnValuesToNotBeNull(column="x")]),
        SuiteSpec("offline.second", frame, [gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0)]),
    ]
    run_suites("offline", specs, root)
    return root / "gx" / "uncommitted" / "data_docs" / "local_site"


def listed_validations(dom: str) -> set[str]:
    """The validation result pages the index's table drew (the rows exist only if its scripts ran)."""
    return set(re.findall(r'<tr class="clickable-row" data-href="(validations/[^"]+)"', dom))


def test_every_page_loads_only_shipped_files(tmp_path):
    site = build_site(tmp_path / "v")
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 5  # the index, two expectation suites, two validation results
    for page in pages:
        text = page.read_text()
        assert not REMOTE_RESOURCE.findall(text), page
        assert VENDOR_DIR in text, page
        for reference in LOCAL_RESOURCE.findall(text):
            assert (page.parent / reference.split("?")[0]).is_file(), (page, reference)
    assert make_offline(site) == []  # and a second pass changes nothing and finds nothing


def test_the_index_lists_every_validation_offline_also_after_a_move(tmp_path):
    site = build_site(tmp_path / "v")
    results = {path.relative_to(site).as_posix() for path in (site / "validations").rglob("*.html")}
    assert len(results) == 2
    assert listed_validations(render_offline(site / "index.html")) == results
    moved = tmp_path / "elsewhere" / "docs"
    shutil.copytree(site, moved)
    shutil.rmtree(tmp_path / "v")
    assert listed_validations(render_offline(moved / "index.html")) == results


def test_gx_pages_without_the_shipped_files_list_nothing_offline(tmp_path):
    """The check above can fail: the same index with GX's own CDN links draws no rows offline."""
    site = build_site(tmp_path / "v")
    index = site / "index.html"
    text = index.read_text()
    from aktrec.validation.offline import CDN_COPIES

    for url, copy in CDN_COPIES.items():
        text = text.replace(f"./{VENDOR_DIR}/{copy}", url)
    index.write_text(text)
    assert listed_validations(render_offline(index)) == set()
