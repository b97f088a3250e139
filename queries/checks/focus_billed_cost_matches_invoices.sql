-- focus_billed_cost_matches_invoices: FOCUS's rule that BilledCost adds up to the invoice.
-- Grain: one row per billing period, invoice and currency whose BilledCost in the focus model
-- differs from the unblended cost of the warehouse's line items (what AWS invoices).
-- Inputs: line_items (the warehouse, as ingested), focus.
-- Line items not yet invoiced (the current month) have no invoice id and are compared as one
-- group. A difference means the focus model lost or duplicated a charge: the unused part of a
-- commitment, for one, is a row of its own and must be billed at 0.
WITH invoiced AS (
    SELECT
        billing_period,
        bill_invoice_id AS invoice_id,
        coalesce(line_item_currency_code, 'USD') AS currency,
        sum(coalesce(line_item_unblended_cost, 0)) AS invoice_cost
    FROM line_items
    GROUP BY billing_period, bill_invoice_id, coalesce(line_item_currency_code, 'USD')
),

billed AS (
    SELECT
        x_BillingPeriod AS billing_period,
        InvoiceId AS invoice_id,
        BillingCurrency AS currency,
        sum(BilledCost) AS billed_cost
    FROM focus
    GROUP BY x_BillingPeriod, InvoiceId, BillingCurrency
)

SELECT
    coalesce(invoiced.billing_period, billed.billing_period) AS billing_period,
    coalesce(invoiced.invoice_id, billed.invoice_id) AS invoice_id,
    coalesce(invoiced.currency, billed.currency) AS currency,
    coalesce(invoiced.invoice_cost, 0) AS invoice_cost,
    coalesce(billed.billed_cost, 0) AS billed_cost,
    'focus BilledCost of invoice ' || coalesce(invoiced.invoice_id, billed.invoice_id, '(none)')
        || ' in ' || coalesce(invoiced.billing_period, billed.billing_period) || ' is '
        || CAST(coalesce(billed.billed_cost, 0) AS VARCHAR) || ' where its line items add up to '
        || CAST(coalesce(invoiced.invoice_cost, 0) AS VARCHAR) || ' '
        || coalesce(invoiced.currency, billed.currency) AS reason
FROM invoiced
FULL OUTER JOIN billed
    ON invoiced.billing_period IS NOT DISTINCT FROM billed.billing_period
    AND invoiced.invoice_id IS NOT DISTINCT FROM billed.invoice_id
    AND invoiced.currency = billed.currency
WHERE abs(coalesce(invoiced.invoice_cost, 0) - coalesce(billed.billed_cost, 0)) > 1e-6
