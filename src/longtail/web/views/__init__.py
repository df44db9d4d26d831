"""Read-only page data for the cockpit: one function per page returning a typed view model.

Plain functions of (Workspace, ..., as_of) with no web framework imports, so the HTML pages and the JSON
API share them and tests call them directly.
"""
