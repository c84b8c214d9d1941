"""`skyctl cost-report`: what every service and virtual bucket cost and saved, from skyctl's own records.

Data flows one way: `skyctl.state.report_queries` (one read transaction) -> `build` (replica intervals x
the $/h recorded at launch, store usage x list prices, totals) -> `model.Report` -> one renderer per
output (`render_table`, `Report.to_dict` for JSON, `render_csv`, `render_html`, `notify`).
"""
