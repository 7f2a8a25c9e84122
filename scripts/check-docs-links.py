#!/usr/bin/env python3
"""Checks the internal links of the built book (mdBook checks none of them).

Usage: scripts/check-docs-links.py [BOOK_DIR]   (default: target/book)

Every relative href (and src) in every HTML page of the book must name a
file that exists in the book, and every #fragment, on the same page or on
another one, must match an id (or an <a name>) in the page it points to.
Links with a scheme (https:, mailto:, ...) are not fetched. Prints each
broken link and exits 1 if there is any.
"""

import os
import sys
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

LINK_ATTRIBUTES = {"href", "src"}


class Page(HTMLParser):
    """The ids a page defines and the links it holds."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []  # (line, attribute value)
        self.base = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)
            elif tag == "base" and name == "href":
                self.base = value
            elif name in LINK_ATTRIBUTES:
                self.links.append((self.getpos()[0], value))

    handle_startendtag = handle_starttag


def parse(path):
    page = Page()
    with open(path, encoding="utf-8") as file:
        page.feed(file.read())
    page.close()
    return page


def main():
    book = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/book")
    if not os.path.isfile(os.path.join(book, "index.html")):
        sys.exit(f"check-docs-links: no book at {book} (build it with `just docs`)")

    pages = {}
    for folder, _, files in os.walk(book):
        for name in files:
            if name.endswith(".html"):
                path = os.path.join(folder, name)
                pages[path] = parse(path)

    broken = []
    checked = 0
    for path, page in sorted(pages.items()):
        where = os.path.relpath(path, book)
        # A <base href="/..."> (the 404 page's) resolves links from the book's root.
        if page.base is not None and page.base.startswith("/"):
            folder = os.path.join(book, page.base.lstrip("/"))
        else:
            folder = os.path.dirname(path)
        for line, link in page.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue  # external: not fetched
            checked += 1
            if parts.path:
                target = os.path.normpath(os.path.join(folder, unquote(parts.path)))
                if os.path.isdir(target):
                    target = os.path.join(target, "index.html")
                if os.path.commonpath([book, target]) != book:
                    broken.append(f"{where}:{line}: {link}: leads outside the book")
                    continue
                if not os.path.isfile(target):
                    shown = os.path.relpath(target, book)
                    broken.append(f"{where}:{line}: {link}: no file {shown}")
                    continue
            else:
                target = path
            fragment = unquote(parts.fragment)
            if not fragment:
                continue
            if target not in pages:
                shown = os.path.relpath(target, book)
                broken.append(f"{where}:{line}: {link}: #{fragment} on {shown}, not a page")
            elif fragment not in pages[target].ids:
                shown = os.path.relpath(target, book)
                broken.append(f"{where}:{line}: {link}: no id \"{fragment}\" in {shown}")

    for problem in broken:
        print(f"broken link: {problem}", file=sys.stderr)
    if broken:
        print(
            f"check-docs-links: {len(broken)} broken of {checked} internal links "
            f"in {len(pages)} pages (the page's source is docs/src/ with .md for .html)",
            file=sys.stderr,
        )
        return 1
    print(f"check-docs-links: {checked} internal links in {len(pages)} pages, all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
