-- showback_reconciles: the tag logic loses no line item; showback adds up to the period total.
-- Grain: one row per billing period and currency whose showback rows do not add up to
-- staging's totals in that currency.
-- Inputs: stg_line_items, showback_monthly.
-- Totals are compared per currency: amounts in different currencies are never added up.
WITH staged AS (
    SELECT
        billing_period,
        currency,
        count(*) AS line_items,
        sum(unblended_cost) AS unblended_cost,
        sum(amortized_cost) AS amortized_cost
    FROM stg_line_items
    GROUP BY billing_period, currency
),

shown AS (
    SELECT
        billing_period,
        currency,
        sum(line_items) AS line_items,
        sum(unblended_cost) AS unblended_cost,
        sum(amortized_cost) AS amortized_cost
    FROM showback_monthly
    GROUP BY billing_period, currency
)

SELECT
    coalesce(staged.billing_period, shown.billing_period) AS billing_period,
    coalesce(staged.currency, shown.currency) AS currency,
    coalesce(staged.line_items, 0) AS staged_line_items,
    coalesce(shown.line_items, 0) AS showback_line_items,
    coalesce(staged.amortized_cost, 0) AS staged_amortized_cost,
    coalesce(shown.amortized_cost, 0) AS showback_amortized_cost,
    'showback_monthly has ' || CAST(coalesce(shown.line_items, 0) AS VARCHAR)
        || ' line items and amortized cost ' || CAST(coalesce(shown.amortized_cost, 0) AS VARCHAR)
        || ' where stg_line_items has ' || CAST(coalesce(staged.line_items, 0) AS VARCHAR)
        || ' and ' || CAST(coalesce(staged.amortized_cost, 0) AS VARCHAR) || ' in '
        || coalesce(staged.currency, shown.currency) AS reason
FROM staged
FULL OUTER JOIN shown
    ON staged.billing_period IS NOT DISTINCT FROM shown.billing_period
    AND staged.currency = shown.currency
WHERE coalesce(staged.line_items, 0) <> coalesce(shown.line_items, 0)
    OR abs(coalesce(staged.unblended_cost, 0) - coalesce(shown.unblended_cost, 0)) > 1e-6
    OR abs(coalesce(staged.amortized_cost, 0) - coalesce(shown.amortized_cost, 0)) > 1e-6
