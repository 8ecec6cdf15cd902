"""The web client: its pages and static files (plain ES modules and CSS, no build step),
the libraries vendored from npm by scripts/vendor_web.py, and the routes serving them."""
