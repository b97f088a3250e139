-- tag_coverage_reconciles: for every dimension, tag coverage counts the whole period's spend.
-- Grain: one row per billing period and dimension whose '(all)' total differs from staging's.
-- Inputs: stg_line_items, tag_coverage.
WITH staged AS (
    SELECT billing_period, count(*) AS line_items, sum(amortized_cost) AS amortized_cost
    FROM stg_line_items
    GROUP BY billing_period
)

SELECT
    tag_coverage.billing_period,
    tag_coverage.dimension,
    tag_coverage.line_items AS coverage_line_items,
    staged.line_items AS staged_line_items,
    'tag_coverage for ' || tag_coverage.dimension || ' counts '
        || CAST(tag_coverage.line_items AS VARCHAR) || ' line items and amortized cost '
        || CAST(tag_coverage.total_amortized_cost AS VARCHAR) || ' where stg_line_items has '
        || CAST(coalesce(staged.line_items, 0) AS VARCHAR) || ' and '
        || CAST(coalesce(staged.amortized_cost, 0) AS VARCHAR) AS reason
FROM tag_coverage
LEFT JOIN staged ON tag_coverage.billing_period IS NOT DISTINCT FROM staged.billing_period
WHERE tag_coverage.account_id = '(all)'
    AND (
        tag_coverage.line_items <> coalesce(staged.line_items, 0)
        OR abs(tag_coverage.total_amortized_cost - coalesce(staged.amortized_cost, 0)) > 1e-6
    )
