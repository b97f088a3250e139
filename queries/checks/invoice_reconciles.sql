-- invoice_reconciles: the line items of every invoice add up to what ingest read for it.
-- Grain: one row per billing period, invoice and currency whose unblended cost differs from the
-- run log's figure by more than a hundredth of a cent (float sums of the same numbers may
-- differ in their last bits), or whose line count differs.
-- Inputs: invoice_reconciliation.
-- A difference means the warehouse no longer holds what was ingested (a file changed or removed
-- under line_items/, a partition written by hand) or that staging dropped or zeroed a billed
-- line (a split cost allocation line that carried cost). Periods without a run log are not
-- checked.
SELECT
    billing_period,
    bill_invoice_id,
    currency,
    unblended_cost_line_items,
    unblended_cost_run_log,
    difference,
    'invoice ' || coalesce(bill_invoice_id, '(none)') || ' of ' || billing_period || ' in '
        || currency || ': the line items add up to ' || CAST(unblended_cost_line_items AS VARCHAR)
        || ' (' || CAST(line_items AS VARCHAR) || ' lines) where the run log of ' || run_id
        || ' read ' || CAST(unblended_cost_run_log AS VARCHAR) || ' ('
        || CAST(rows_run_log AS VARCHAR) || ' lines)' AS reason
FROM invoice_reconciliation
WHERE run_id IS NOT NULL
    AND (abs(difference) > 0.0001 OR line_items <> rows_run_log)
