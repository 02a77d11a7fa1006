"""Search spaces. Each space is one folder ``spaces/<name>/`` that describes itself in its
``__init__.py`` (``PLUGINS``: its spaces, ground-truth sources and protocol files); ``harness.catalog``
finds it. Adding a space edits nothing outside its folder."""
