-- invoice_reconciliation: per billing period, invoice and currency, the unblended cost of the
-- line items against what the run log recorded when the period was ingested.
-- Grain: billing_period x bill_invoice_id x currency (bill_invoice_id is NULL for line items
--   without one, as in a month not invoiced yet).
-- Inputs: stg_line_items, run_log (_runs/*.parquet), run_log_invoices (_runs/invoices/*.parquet).
-- Columns: billing_period, bill_invoice_id, currency, line_items, unblended_cost_line_items,
--   run_id (the period's latest ingested run), rows_run_log, unblended_cost_run_log (the sum
--   ingest read from the source files), unblended_cost_written_run_log, difference
--   (unblended_cost_line_items - unblended_cost_run_log).
-- The run log's figures of a period are those of its latest run with outcome 'ingested' (the
-- README's "Invoice totals"); an older run's figures describe data that was replaced. A period
-- with no run log (a warehouse written by other means) has NULL run log figures and difference.
-- An invoice on one side only shows 0 on the other. Compare unblended_cost_run_log with the
-- invoice in the Billing console; checks/invoice_reconciles fails on any difference.
-- The run log writes '(none)' for a line without a currency code, which staging counts as USD.
WITH latest_runs AS (
    SELECT billing_period, max_by(run_id, finished_at) AS run_id
    FROM run_log
    WHERE outcome = 'ingested'
    GROUP BY billing_period
),

run_log_figures AS (
    SELECT
        run_log_invoices.billing_period,
        run_log_invoices.bill_invoice_id,
        CASE WHEN run_log_invoices.currency = '(none)' THEN 'USD'
            ELSE run_log_invoices.currency END AS currency,
        min(run_log_invoices.run_id) AS run_id,
        sum(run_log_invoices.rows) AS rows_run_log,
        sum(run_log_invoices.unblended_cost_read) AS unblended_cost_run_log,
        sum(run_log_invoices.unblended_cost_written) AS unblended_cost_written_run_log
    FROM run_log_invoices
    INNER JOIN latest_runs
        ON run_log_invoices.billing_period = latest_runs.billing_period
        AND run_log_invoices.run_id = latest_runs.run_id
    GROUP BY
        run_log_invoices.billing_period,
        run_log_invoices.bill_invoice_id,
        CASE WHEN run_log_invoices.currency = '(none)' THEN 'USD'
            ELSE run_log_invoices.currency END
),

line_item_figures AS (
    SELECT
        billing_period,
        bill_invoice_id,
        currency,
        count(*) AS line_items,
        sum(unblended_cost) AS unblended_cost_line_items
    FROM stg_line_items
    GROUP BY billing_period, bill_invoice_id, currency
),

logged_periods AS (
    SELECT DISTINCT billing_period, run_id
    FROM latest_runs
)

SELECT
    coalesce(line_item_figures.billing_period, run_log_figures.billing_period) AS billing_period,
    coalesce(line_item_figures.bill_invoice_id, run_log_figures.bill_invoice_id)
        AS bill_invoice_id,
    coalesce(line_item_figures.currency, run_log_figures.currency) AS currency,
    coalesce(line_item_figures.line_items, 0) AS line_items,
    coalesce(line_item_figures.unblended_cost_line_items, 0) AS unblended_cost_line_items,
    logged_periods.run_id,
    CASE WHEN logged_periods.run_id IS NOT NULL
        THEN coalesce(run_log_figures.rows_run_log, 0) END AS rows_run_log,
    CASE WHEN logged_periods.run_id IS NOT NULL
        THEN coalesce(run_log_figures.unblended_cost_run_log, 0) END AS unblended_cost_run_log,
    CASE WHEN logged_periods.run_id IS NOT NULL
        THEN coalesce(run_log_figures.unblended_cost_written_run_log, 0) END
        AS unblended_cost_written_run_log,
    CASE WHEN logged_periods.run_id IS NOT NULL
        THEN coalesce(line_item_figures.unblended_cost_line_items, 0)
            - coalesce(run_log_figures.unblended_cost_run_log, 0) END AS difference
FROM line_item_figures
FULL OUTER JOIN run_log_figures
    ON line_item_figures.billing_period = run_log_figures.billing_period
    AND line_item_figures.bill_invoice_id IS NOT DISTINCT FROM run_log_figures.bill_invoice_id
    AND line_item_figures.currency = run_log_figures.currency
LEFT JOIN logged_periods
    ON coalesce(line_item_figures.billing_period, run_log_figures.billing_period)
    = logged_periods.billing_period
