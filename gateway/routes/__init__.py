"""The gateway's routes: one FastAPI router per thing served, each mounted by :mod:`gateway.app`.

- ``sessions``: recording sessions: start, list, one, stop (``/api/start``, ``/api/status``...)
- ``events``: the session events as server-sent events (``/api/events``)
- ``watchlist``: the watch list (``/api/models``); ``watchlist_file``: its JSON export and import
  (``/api/watchlist``)
- ``model_status``: is a channel live? (``/api/model/{username}/status``)
- ``recordings``: the recording files (``/api/recordings``, ``/api/cleanup``)
- ``files``: the preview files and recordings themselves (``/streams/sessions``,
  ``/streams/records``); ``playback``: a ``.ts`` recording as an HLS playlist
  (``/streams/playback``)
- ``media``: pictures: thumbnails, posters, contact sheets
- ``notifications``: notification targets and deliveries (``/api/notifications``)
- ``system``: disk, system page, channel timeline (``/api/disk``, ``/api/system``...)
- ``logs``: the services' recent log lines (``/api/logs``)
- ``dashboard``: the web pages, their assets and sign-in (``/``, ``/assets``, ``/auth``)
"""
