"""The inductionscope dashboard (Streamlit): `streamlit run dashboard/app.py`.

It reads everything from the REST service through `dashboard.client` and never imports torch,
`training` or `backend`.
"""
