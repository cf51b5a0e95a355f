"""Claims: the paper's claims checked on this suite, with pass/fail and their numbers."""

import streamlit as st

from dashboard import charts, client, sidebar, ui

BADGES = {
    "pass": ":green-badge[:material/check: pass]",
    "fail": ":red-badge[:material/close: fail]",
    "n/a": ":gray-badge[n/a]",
}

st.title("Claims")
st.markdown(
    "The claims of Olsson et al. 2022 that this suite can test, as `python -m training report` checks them: each "
    "with pass, fail, or n/a (the suite lacks the runs it needs) and the numbers behind the verdict. A failing "
    "claim is reported as failing, with by how much."
)
sel = sidebar.render()
report = ui.unless_missing(client.report, sel.suite)
if report is None:
    st.stop()

n_na = sum(c["status"] == "n/a" for c in report["claims"])
a, b, c = st.columns(3)
a.metric("passed", report["passed"])
b.metric("failed", report["failed"])
c.metric("not testable here", n_na)
st.caption(f"Suite `{report['suite']}`, report generated {report['generated']}.")

for claim in report["claims"]:
    with st.container(border=True):
        st.markdown(f"**({claim['id']}) {BADGES.get(claim['status'], claim['status'])}** — {claim['claim']}")
        st.markdown(claim["details"] or "—")
        if claim["numbers"]:
            with st.expander("numbers"):
                st.json(claim["numbers"])

if report["runs"]:
    st.subheader("Peak prefix-matching score per run")
    st.caption(
        "The highest prefix-matching score of any head at any checkpoint; above the dashed line the run has an induction head."
    )
    st.plotly_chart(charts.peak_prefix_matching(report["runs"]), key="claims_peaks")
if report.get("markdown"):
    with st.expander("The report as `python -m training report` prints it"):
        st.markdown(report["markdown"])
