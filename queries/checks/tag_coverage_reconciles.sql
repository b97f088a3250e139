-- tag_coverage_reconciles: for every dimension, tag coverage counts the whole period's spend.
-- Grain: one row per billing period, dimension and currency whose '(all)' row is missing or
-- whose total differs from staging's total in that currency.
-- Inputs: stg_line_items, tag_key_aliases (the configured dimensions), tag_coverage.
-- Totals are compared per currency: amounts in different currencies are never added up.
WITH staged AS (
    SELECT
        by_currency.billing_period,
        dimensions.dimension,
        by_currency.currency,
        by_currency.line_items,
        by_currency.amortized_cost
    FROM (
        SELECT
            billing_period, currency, count(*) AS line_items, sum(amortized_cost) AS amortized_cost
        FROM stg_line_items
        GROUP BY billing_period, currency
    ) AS by_currency
    CROSS JOIN (SELECT DISTINCT dimension FROM tag_key_aliases) AS dimensions
),

covered AS (
    SELECT billing_period, dimension, currency, line_items, total_amortized_cost
    FROM tag_coverage
    WHERE account_id = '(all)' AND service = '(all)'
)

SELECT
    coalesce(covered.billing_period, staged.billing_period) AS billing_period,
    coalesce(covered.dimension, staged.dimension) AS dimension,
    coalesce(covered.currency, staged.currency) AS currency,
    coalesce(covered.line_items, 0) AS coverage_line_items,
    coalesce(staged.line_items, 0) AS staged_line_items,
    'tag_coverage for ' || coalesce(covered.dimension, staged.dimension) || ' counts '
        || CAST(coalesce(covered.line_items, 0) AS VARCHAR) || ' line items and amortized cost '
        || CAST(coalesce(covered.total_amortized_cost, 0) AS VARCHAR)
        || ' where stg_line_items has ' || CAST(coalesce(staged.line_items, 0) AS VARCHAR)
        || ' and ' || CAST(coalesce(staged.amortized_cost, 0) AS VARCHAR) || ' in '
        || coalesce(covered.currency, staged.currency) AS reason
FROM covered
FULL OUTER JOIN staged
    ON covered.billing_period IS NOT DISTINCT FROM staged.billing_period
    AND covered.dimension = staged.dimension
    AND covered.currency = staged.currency
WHERE coalesce(covered.line_items, 0) <> coalesce(staged.line_items, 0)
    OR abs(coalesce(covered.total_amortized_cost, 0) - coalesce(staged.amortized_cost, 0)) > 1e-6
