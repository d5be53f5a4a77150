"""The serving wing: everything between a client and the answering wing.

One access policy (``api/policy.py``) in front of every route: the Gradio chat UI
(``ui.py``, formatting in ``ui_format.py``), the HTTP API and its OpenAI-compatible route
(``api/``), the widget and admin page (``static/``), the login link and staff logins, and
what the server keeps of its use (``feedback.py``, ``request_log.py``, ``gaps.py``).
``server.py`` assembles them.
"""
