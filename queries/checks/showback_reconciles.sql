-- showback_reconciles: showback loses no line item and no cost, in every dimension.
-- Grain: one row per billing period, showback dimension and currency where the direct spend of
-- showback_monthly plus the shared pool (at full precision) differs from staging's total, or
-- the line items do not add up.
-- Inputs: stg_line_items, shared_cost_splits (the showback dimensions), showback_attribution,
-- showback_monthly.
-- The shared columns of showback_monthly are the pool rounded to cents and split exactly
-- (checks/shared_costs_split_exactly.sql); here the pool is taken unrounded from
-- showback_attribution, so direct + pool must equal staging to 1e-6. Totals are compared per
-- currency: amounts in different currencies are never added up.
WITH staged AS (
    SELECT
        by_currency.billing_period,
        dimensions.dimension,
        by_currency.currency,
        by_currency.line_items,
        by_currency.unblended_cost,
        by_currency.amortized_cost
    FROM (
        SELECT
            billing_period,
            currency,
            count(*) AS line_items,
            sum(unblended_cost) AS unblended_cost,
            sum(amortized_cost) AS amortized_cost
        FROM stg_line_items
        GROUP BY billing_period, currency
    ) AS by_currency
    CROSS JOIN (SELECT DISTINCT dimension FROM shared_cost_splits) AS dimensions
),

shown AS (
    SELECT
        showback_monthly.billing_period,
        showback_monthly.dimension,
        showback_monthly.currency,
        sum(showback_monthly.line_items) AS line_items,
        sum(showback_monthly.direct_unblended_cost) AS unblended_cost,
        sum(showback_monthly.direct_amortized_cost) AS amortized_cost
    FROM showback_monthly
    GROUP BY showback_monthly.billing_period, showback_monthly.dimension, showback_monthly.currency
    UNION ALL
    SELECT
        billing_period,
        dimension,
        currency,
        sum(line_items) AS line_items,
        sum(unblended_cost) AS unblended_cost,
        sum(amortized_cost) AS amortized_cost
    FROM showback_attribution
    WHERE shared_rule IS NOT NULL
    GROUP BY billing_period, dimension, currency
),

shown_total AS (
    SELECT
        billing_period,
        dimension,
        currency,
        sum(line_items) AS line_items,
        sum(unblended_cost) AS unblended_cost,
        sum(amortized_cost) AS amortized_cost
    FROM shown
    GROUP BY billing_period, dimension, currency
)

SELECT
    coalesce(staged.billing_period, shown_total.billing_period) AS billing_period,
    coalesce(staged.dimension, shown_total.dimension) AS dimension,
    coalesce(staged.currency, shown_total.currency) AS currency,
    coalesce(staged.line_items, 0) AS staged_line_items,
    coalesce(shown_total.line_items, 0) AS showback_line_items,
    coalesce(staged.amortized_cost, 0) AS staged_amortized_cost,
    coalesce(shown_total.amortized_cost, 0) AS showback_amortized_cost,
    'showback_monthly for ' || coalesce(staged.dimension, shown_total.dimension) || ' has '
        || CAST(coalesce(shown_total.line_items, 0) AS VARCHAR)
        || ' line items and amortized cost '
        || CAST(coalesce(shown_total.amortized_cost, 0) AS VARCHAR)
        || ' (direct and shared pool) where stg_line_items has '
        || CAST(coalesce(staged.line_items, 0) AS VARCHAR)
        || ' and ' || CAST(coalesce(staged.amortized_cost, 0) AS VARCHAR) || ' in '
        || coalesce(staged.currency, shown_total.currency) AS reason
FROM staged
FULL OUTER JOIN shown_total
    ON staged.billing_period IS NOT DISTINCT FROM shown_total.billing_period
    AND staged.dimension = shown_total.dimension
    AND staged.currency = shown_total.currency
WHERE coalesce(staged.line_items, 0) <> coalesce(shown_total.line_items, 0)
    OR abs(coalesce(staged.unblended_cost, 0) - coalesce(shown_total.unblended_cost, 0)) > 1e-6
    OR abs(coalesce(staged.amortized_cost, 0) - coalesce(shown_total.amortized_cost, 0)) > 1e-6
