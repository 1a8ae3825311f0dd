"""The peers' own test suites (Mangum 0.22, apig-wsgi 2.20) run against the web bridge (issue 25).

`test_peer_suites.py` fetches each peer's sdist from the package index, runs the suite it ships with pytest in a venv
of its own (`requirements.txt`: what the peers' suites import), with `peer_shim.py` putting the bridge behind the peer's
constructor, and holds the outcome to `expected.py`: every failure is declared there with its reason.
"""
