"""Support code for tests/test_browser.py (a temporary course, a JupyterLab server, headless Chromium)."""
