"""The dashboard's page scripts, run by the router in ``app.py`` (``st.navigation``).

Each module is a Streamlit script, not an importable API: importing one renders it.
This file makes the folder part of the package, so wheels ship the pages.
"""
